"""A small reader of ``deployments/template.yaml``: the one description of the resources.

It loads the YAML with cfn-lint's decoder, which turns the CloudFormation short-form tags
(``!Ref``, ``!Sub``, ``!GetAtt``, ``!If``...) into their long JSON forms; resolves parameters
(defaults, or values the caller passes), conditions and intrinsic functions to plain values;
and gives typed views of the resources the local stack and the tests need (queues, tables,
buckets, topics, alarms, log groups, the function and its event source mapping).

Resolution is honest: a value only AWS can know (a queue URL, a KMS key id, a generated role
name) raises :class:`Unresolvable` instead of being guessed. Physical names come from each
resource's name property, unless the caller names the resource itself (``names``): the local
stack names resources after its settings, as the deployed function's environment does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

S = TypeVar("S")

TEMPLATE_PATH = Path(__file__).with_name("template.yaml")

#: moto's default account, the account ARNs are built in unless the caller knows better.
DEFAULT_ACCOUNT_ID = "123456789012"


class Unresolvable(ValueError):
    """A value only a real deployment knows (a URL, a generated id), or a malformed reference."""


# ---------------------------------------------------------------------------- loading


def load_document(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as CloudFormation's JSON form (intrinsics as ``{"Fn::...": ...}``).

    Read with cfn-lint's decoder, the loader ``make lint`` checks the template with, so the
    short-form tags mean the same here as there; its position-carrying nodes become plain
    dicts, lists and strings, the values boto3 and ``json`` are handed.
    """
    from cfnlint.decode import decode  # a dev tool: imported only when a template is read

    document, problems = decode(str(path))
    if problems:
        raise ValueError(f"{path} could not be read: {'; '.join(p.message for p in problems)}")
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path} is not a CloudFormation template")
    return cast(dict[str, Any], _plain(document))


def _plain(node: Any) -> Any:
    """``node`` with cfn-lint's dict, list and str subclasses turned into the built-in types."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    if isinstance(node, str):
        return str(node)
    return node


@cache
def _default_document() -> dict[str, Any]:
    return load_document()


# ---------------------------------------------------------------------------- resolving


class _NoValue:
    """``AWS::NoValue``: the property is removed."""


NO_VALUE = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


#: The attributes known before deployment: (type, attribute) -> value, a pattern of the
#: partition, region, account and the resource's physical name.
_ATTRIBUTES = {
    ("AWS::SQS::Queue", "Arn"): "arn:{partition}:sqs:{region}:{account}:{name}",
    ("AWS::SQS::Queue", "QueueName"): "{name}",
    ("AWS::DynamoDB::Table", "Arn"): "arn:{partition}:dynamodb:{region}:{account}:table/{name}",
    ("AWS::Logs::LogGroup", "Arn"): "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
    ("AWS::Lambda::Function", "Arn"): "arn:{partition}:lambda:{region}:{account}:function:{name}",
    ("AWS::SNS::Topic", "TopicArn"): "arn:{partition}:sns:{region}:{account}:{name}",
    ("AWS::SNS::Topic", "TopicName"): "{name}",
    ("AWS::S3::Bucket", "Arn"): "arn:{partition}:s3:::{name}",
    ("AWS::CloudWatch::Alarm", "Arn"): "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
    ("AWS::IAM::ManagedPolicy", "Arn"): "arn:{partition}:iam::{account}:policy/{name}",
}


def _mappings(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping within ``node`` (``node`` included), depth first."""
    if isinstance(node, dict):
        yield node
        children: Iterable[Any] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return
    for child in children:
        yield from _mappings(child)


def _named_ids(node: dict[str, Any]) -> set[str]:
    """The names one intrinsic function refers to: ``Ref``'s, ``GetAtt``'s resource, and
    the ``${X}`` or ``${X.Attribute}`` of a ``Sub`` (resources or not: the caller filters)."""
    if set(node) == {"Ref"}:
        return {str(node["Ref"])}
    if set(node) == {"Fn::GetAtt"}:
        return {str(node["Fn::GetAtt"][0])}
    if set(node) == {"Fn::Sub"}:
        argument = node["Fn::Sub"]
        text = argument if isinstance(argument, str) else argument[0]
        return {name.split(".", 1)[0] for name in _SUB_VARIABLE.findall(text)}
    return set()


@dataclass(frozen=True)
class Resource:
    """One resource of the template, with its properties resolved."""

    logical_id: str
    type: str
    properties: dict[str, Any]
    #: The properties as written, intrinsics unresolved (to follow references).
    raw: dict[str, Any]


def referenced_id(value: Any) -> str:
    """Logical id named by a ``Ref`` or ``Fn::GetAtt`` node."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    raise Unresolvable(f"not a reference to a resource: {value!r}")


class Template:
    """The template resolved for one account, region and set of parameters."""

    def __init__(
        self,
        document: Mapping[str, Any] | None = None,
        *,
        parameters: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        account_id: str = DEFAULT_ACCOUNT_ID,
        partition: str = "aws",
        stack_name: str = "cv-analytics",
    ) -> None:
        self.document: Mapping[str, Any] = document if document is not None else _default_document()
        declared = self.document.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        if unknown:
            raise ValueError(f"the template declares no parameters {sorted(unknown)}")
        self.parameters: dict[str, Any] = {
            name: spec["Default"] for name, spec in declared.items() if "Default" in spec
        } | dict(parameters or {})
        self.region = region
        self.account_id = account_id
        self.partition = partition
        self.pseudo: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": partition,
            "AWS::StackName": stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        self._names = dict(names or {})
        unknown = set(self._names) - set(self.document["Resources"])
        if unknown:
            raise ValueError(f"the template declares no resources {sorted(unknown)}")
        self._conditions: dict[str, bool] = {}

    # ------------------------------------------------------------------ resources

    def resource(self, logical_id: str) -> Resource:
        spec = self.document["Resources"][logical_id]
        raw = dict(spec.get("Properties", {}))
        return Resource(logical_id, spec["Type"], self._named(logical_id, self.resolve(raw)), raw)

    def _named(self, logical_id: str, properties: dict[str, Any]) -> dict[str, Any]:
        """The properties with the caller's name for the resource, if it gave one."""
        prop = NAME_PROPERTY.get(self.type_of(logical_id))
        if logical_id in self._names and prop is not None:
            properties[prop] = self._names[logical_id]
        return properties

    def logical_ids(self, resource_type: str | None = None) -> list[str]:
        """Resources (in template order) whose condition holds, optionally of one type."""
        return [
            logical_id
            for logical_id, spec in self.document["Resources"].items()
            if (resource_type is None or spec["Type"] == resource_type)
            and ("Condition" not in spec or self.condition(spec["Condition"]))
        ]

    def type_of(self, logical_id: str) -> str:
        return str(self.document["Resources"][logical_id]["Type"])

    def resource_types(self) -> set[str]:
        return {spec["Type"] for spec in self.document["Resources"].values()}

    def raw_properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.document["Resources"][logical_id].get("Properties", {}))

    def references(self, logical_id: str) -> set[str]:
        """Other resources this one's properties refer to (Ref, GetAtt, ${X} in Sub)."""
        resources = set(self.document["Resources"])
        properties = self.document["Resources"][logical_id].get("Properties", {})
        found = {name for node in _mappings(properties) for name in _named_ids(node)}
        return (found & resources) - {logical_id}

    # ------------------------------------------------------------------ names, Ref, GetAtt

    def physical_name(self, logical_id: str) -> str:
        if logical_id in self._names:
            return self._names[logical_id]
        spec = self.document["Resources"][logical_id]
        prop = NAME_PROPERTY.get(spec["Type"])
        if prop is None or prop not in spec.get("Properties", {}):
            raise Unresolvable(f"{logical_id} has no name of its own: CloudFormation generates it")
        return str(self.resolve(spec["Properties"][prop]))

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.document.get("Parameters", {}):
            raise Unresolvable(f"parameter {name} has no default and no value was given")
        resources = self.document["Resources"]
        if name not in resources:
            raise Unresolvable(f"!Ref to unknown {name}")
        kind = resources[name]["Type"]
        if kind in ("AWS::SNS::Topic", "AWS::IAM::ManagedPolicy"):
            return self.get_att(name, "TopicArn" if kind == "AWS::SNS::Topic" else "Arn")
        if kind in _REF_IS_NAME:
            return self.physical_name(name)
        raise Unresolvable(f"!Ref {name} ({kind}) is only known once deployed")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resources = self.document["Resources"]
        if logical_id not in resources:
            raise Unresolvable(f"!GetAtt of unknown {logical_id}")
        kind = resources[logical_id]["Type"]
        pattern = _ATTRIBUTES.get((kind, attribute))
        if pattern is None:
            raise Unresolvable(
                f"!GetAtt {logical_id}.{attribute} ({kind}) is only known once deployed"
            )
        return pattern.format(
            partition=self.partition,
            region=self.region,
            account=self.account_id,
            name=self.physical_name(logical_id),
        )

    # ------------------------------------------------------------------ conditions and values

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.document["Conditions"][name]))
        return self._conditions[name]

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by what it evaluates to."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _function(self, key: str, argument: Any) -> Any:
        match key:
            case "Fn::GetAtt":
                logical_id, attribute = argument
                return self.get_att(logical_id, attribute)
            case "Fn::Sub":
                return self._sub(argument)
            case "Fn::If":
                name, when_true, when_false = argument
                return self.resolve(when_true if self.condition(name) else when_false)
            case "Fn::Not":
                return not self.resolve(argument[0])
            case "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return str(left) == str(right)
            case "Fn::And":
                return all(self.resolve(item) for item in argument)
            case "Fn::Or":
                return any(self.resolve(item) for item in argument)
            case "Fn::Join":
                separator, items = argument
                return str(separator).join(str(item) for item in self.resolve(items))
            case "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(self.resolve(index))]
        raise Unresolvable(f"{key} is not supported by this reader")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(item) for name, item in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is written as ${Literal}
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name and name.split(".", 1)[0] in self.document["Resources"]:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text)

    # ------------------------------------------------------------------ typed views

    def queue(self, logical_id: str) -> QueueSpec:
        resource = self.resource(logical_id)
        redrive = resource.properties.get("RedrivePolicy")
        return QueueSpec(
            logical_id=logical_id,
            name=self.physical_name(logical_id),
            properties=resource.properties,
            dead_letter_queue=(
                referenced_id(resource.raw["RedrivePolicy"]["deadLetterTargetArn"])
                if redrive
                else None
            ),
        )

    def queues(self) -> list[QueueSpec]:
        return [self.queue(i) for i in self.logical_ids("AWS::SQS::Queue")]

    def _specs(self, spec: Callable[[str, str, dict[str, Any]], S], resource_type: str) -> list[S]:
        """One spec per resource of a type, built from its logical id, name and properties."""
        return [
            spec(i, self.physical_name(i), self.resource(i).properties)
            for i in self.logical_ids(resource_type)
        ]

    def table(self, logical_id: str) -> TableSpec:
        return TableSpec(
            logical_id, self.physical_name(logical_id), self.resource(logical_id).properties
        )

    def tables(self) -> list[TableSpec]:
        return self._specs(TableSpec, "AWS::DynamoDB::Table")

    def function(self, logical_id: str) -> FunctionSpec:
        # Role and Code name what only a deployment knows (a generated role, the code bucket).
        properties = self.resource_properties_lenient(logical_id, ("Role", "Code"))
        return FunctionSpec(logical_id, self.physical_name(logical_id), properties)

    def event_source_mapping(self) -> EventSourceMappingSpec:
        """The one event source mapping: which queue feeds which function, in what batches."""
        (logical_id,) = self.logical_ids("AWS::Lambda::EventSourceMapping")
        raw = self.raw_properties(logical_id)
        properties = {
            key: self.resolve(value)
            for key, value in raw.items()
            if key not in ("EventSourceArn", "FunctionName")
        }
        return EventSourceMappingSpec(
            logical_id=logical_id,
            queue=referenced_id(raw["EventSourceArn"]),
            function=referenced_id(raw["FunctionName"]),
            properties=properties,
        )

    def alarms(self) -> list[AlarmSpec]:
        return self._specs(AlarmSpec, "AWS::CloudWatch::Alarm")

    def log_groups(self) -> list[LogGroupSpec]:
        return self._specs(LogGroupSpec, "AWS::Logs::LogGroup")

    def buckets(self) -> list[BucketSpec]:
        return self._specs(BucketSpec, "AWS::S3::Bucket")

    def topics(self) -> list[TopicSpec]:
        return [
            TopicSpec(i, self.physical_name(i), self.get_att(i, "TopicArn"))
            for i in self.logical_ids("AWS::SNS::Topic")
        ]

    def resource_properties_lenient(
        self, logical_id: str, unresolved: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Resolved properties, leaving out the named ones (only known once deployed)."""
        raw = self.raw_properties(logical_id)
        resolved = self.resolve({k: v for k, v in raw.items() if k not in unresolved})
        return self._named(logical_id, resolved)


#: The property holding a resource's physical name, per type.
NAME_PROPERTY = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::KMS::Alias": "AliasName",
}

#: Types whose ``!Ref`` is their physical name (SNS topics and managed policies give an ARN).
_REF_IS_NAME = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Logs::LogGroup",
        "AWS::CloudWatch::Alarm",
        "AWS::S3::Bucket",
        "AWS::KMS::Alias",
    }
)


# ---------------------------------------------------------------------------- typed views


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    properties: dict[str, Any]
    #: Logical id of the queue its redrive policy targets, if any.
    dead_letter_queue: str | None

    @property
    def fifo(self) -> bool:
        return bool(self.properties.get("FifoQueue", False))

    @property
    def visibility_timeout(self) -> int:
        return int(self.properties.get("VisibilityTimeout", 30))  # SQS's default

    @property
    def retention_seconds(self) -> int:
        return int(self.properties.get("MessageRetentionPeriod", 4 * 24 * 3600))  # the default

    @property
    def max_receive_count(self) -> int | None:
        redrive = self.properties.get("RedrivePolicy")
        return int(redrive["maxReceiveCount"]) if redrive else None

    def api_attributes(self) -> dict[str, str]:
        """The properties as SQS ``Attributes`` (same names; policies as JSON, booleans lower)."""
        attributes: dict[str, str] = {}
        for key, value in self.properties.items():
            if key in ("QueueName", "Tags"):
                continue
            if isinstance(value, dict | list):
                attributes[key] = json.dumps(value, separators=(",", ":"))
            elif isinstance(value, bool):
                attributes[key] = str(value).lower()
            else:
                attributes[key] = str(value)
        return attributes


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    properties: dict[str, Any]

    @property
    def key_schema(self) -> list[dict[str, str]]:
        return list(self.properties["KeySchema"])

    @property
    def global_secondary_indexes(self) -> list[dict[str, Any]]:
        return list(self.properties.get("GlobalSecondaryIndexes", []))

    @property
    def ttl_attribute(self) -> str | None:
        spec = self.properties.get("TimeToLiveSpecification") or {}
        return str(spec["AttributeName"]) if spec.get("Enabled") else None

    @property
    def point_in_time_recovery(self) -> bool:
        spec = self.properties.get("PointInTimeRecoverySpecification") or {}
        return bool(spec.get("PointInTimeRecoveryEnabled", False))


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    #: Resolved properties without Role and Code.
    properties: dict[str, Any]

    @property
    def timeout(self) -> int:
        return int(self.properties.get("Timeout", 3))  # Lambda's default

    @property
    def memory_size(self) -> int:
        return int(self.properties.get("MemorySize", 128))  # Lambda's default

    @property
    def environment(self) -> dict[str, Any]:
        return dict(self.properties.get("Environment", {}).get("Variables", {}))


@dataclass(frozen=True)
class EventSourceMappingSpec:
    logical_id: str
    #: Logical ids of the queue it reads and the function it invokes.
    queue: str
    function: str
    properties: dict[str, Any]

    @property
    def batch_size(self) -> int:
        return int(self.properties.get("BatchSize", 10))  # the SQS default

    @property
    def reports_batch_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.properties.get("FunctionResponseTypes", [])


@dataclass(frozen=True)
class AlarmSpec:
    logical_id: str
    name: str
    #: The properties, which are also PutMetricAlarm's parameters.
    properties: dict[str, Any]


@dataclass(frozen=True)
class LogGroupSpec:
    logical_id: str
    name: str
    properties: dict[str, Any]

    @property
    def retention_days(self) -> int | None:
        days = self.properties.get("RetentionInDays")
        return None if days is None else int(days)


@dataclass(frozen=True)
class TopicSpec:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    properties: dict[str, Any]

    def encryption(self) -> dict[str, Any] | None:
        """``BucketEncryption`` as PutBucketEncryption's ``ServerSideEncryptionConfiguration``."""
        spec = self.properties.get("BucketEncryption")
        if spec is None:
            return None
        rules = []
        for rule in spec["ServerSideEncryptionConfiguration"]:
            api = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
            if "BucketKeyEnabled" in rule:
                api["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
            rules.append(api)
        return {"Rules": rules}

    def lifecycle(self) -> dict[str, Any] | None:
        """``LifecycleConfiguration`` as PutBucketLifecycleConfiguration's (the parts used)."""
        spec = self.properties.get("LifecycleConfiguration")
        if spec is None:
            return None
        supported = {"Id", "Status", "Prefix", "NoncurrentVersionExpiration"}
        supported |= {"AbortIncompleteMultipartUpload", "ExpirationInDays"}
        rules = []
        for rule in spec["Rules"]:
            unknown = set(rule) - supported
            if unknown:
                raise Unresolvable(f"lifecycle rule properties not translated: {sorted(unknown)}")
            api: dict[str, Any] = {
                "Status": rule["Status"],
                "Filter": {"Prefix": rule.get("Prefix", "")},
            }
            if "Id" in rule:
                api["ID"] = rule["Id"]
            if "ExpirationInDays" in rule:
                api["Expiration"] = {"Days": rule["ExpirationInDays"]}
            for key in ("NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"):
                if key in rule:
                    api[key] = rule[key]
            rules.append(api)
        return {"Rules": rules}
