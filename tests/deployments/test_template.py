"""Static checks of the CloudFormation template: lint, least privilege, and the rules it must keep.

The template is read with ``deployments/template.py`` (the reader the local stack provisions
from); no AWS call is made. The checks state relations (the queue's visibility timeout covers
six function timeouts, every alarm notifies the alarm topic, the TTL attribute is the one the
processor writes...) rather than copies of the template's literals; resources are found by
their role in the template (the queue the event source mapping reads, its redrive target...).
"""

from __future__ import annotations

import subprocess
import sys
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import pytest

from deployments.template import TEMPLATE_PATH, Template, Unresolvable, load_document, referenced_id
from tasks.settings import Settings

# Actions that support no resource-level permissions, so AWS requires Resource "*".
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
        "cloudwatch:GetMetricStatistics",
        "logs:DescribeLogGroups",
        "dynamodb:ListBackups",
        "sns:ListTopics",
    }
)


@cache
def _template() -> Template:
    return Template()


def _resources() -> dict[str, Any]:
    return dict(_template().document["Resources"])


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _mapping() -> Any:
    return _template().event_source_mapping()


def _queue() -> Any:
    return _template().queue(_mapping().queue)


def _dlq() -> Any:
    dlq = _queue().dead_letter_queue
    assert dlq is not None, "the event source queue has no redrive policy"
    return _template().queue(dlq)


def _function() -> Any:
    return _template().function(_mapping().function)


def _env_resource(variable: str) -> str:
    """Logical id of the resource a CV_ANALYTICS_* variable of the function names."""
    raw = _template().raw_properties(_function().logical_id)["Environment"]["Variables"]
    return referenced_id(raw[variable])


def _statements_in(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every policy statement under ``node``; both branches of an Fn::If are included."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "Statement" in node:
            pending = _as_list(node["Statement"])
            while pending:
                statement = pending.pop()
                if isinstance(statement, dict) and "Fn::If" in statement:
                    pending.extend(_as_list(statement["Fn::If"][1:]))
                elif isinstance(statement, dict):
                    found.append((where, statement))
        for key, child in node.items():
            if key not in ("Statement", "AssumeRolePolicyDocument"):
                found.extend(_statements_in(child, f"{where}.{key}"))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.extend(_statements_in(child, f"{where}[{index}]"))
    return found


def _identity_statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Statements of every IAM identity policy: role inline policies, policies, managed policies."""
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in resources.items():
        if resource["Type"].startswith("AWS::IAM::"):
            found.extend(_statements_in(resource.get("Properties", {}), logical_id))
    return found


def _resource_policy_statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Statements of resource policies (key, bucket, topic and queue policies)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for logical_id, resource in resources.items():
        if not resource["Type"].startswith("AWS::IAM::"):
            found.extend(_statements_in(resource.get("Properties", {}), logical_id))
    return found


def _least_privilege_violations(statements: list[tuple[str, dict[str, Any]]]) -> list[str]:
    violations: list[str] = []
    for where, statement in statements:
        sid = f"{where}:{statement.get('Sid', '?')}"
        if "NotAction" in statement or "NotResource" in statement:
            violations.append(f"{sid} uses NotAction/NotResource")
        actions = _as_list(statement.get("Action"))
        if not actions:
            violations.append(f"{sid} has no Action")
        for action in actions:
            if not isinstance(action, str) or "*" in action:
                violations.append(f"{sid} has wildcard or non-literal action {action!r}")
        resources = _as_list(statement.get("Resource"))
        if not resources:
            violations.append(f"{sid} has no Resource")
        if "*" in resources:
            needless = sorted(set(map(str, actions)) - STAR_RESOURCE_ACTIONS)
            if needless:
                violations.append(f"{sid} grants {needless} on Resource '*'")
    return violations


def _grants(logical_id: str) -> dict[str, list[str]]:
    """Map each action an identity policy allows to the (resolved) resources it is allowed on."""
    grants: dict[str, list[str]] = {}
    for _, statement in _identity_statements({logical_id: _resources()[logical_id]}):
        if statement["Effect"] == "Allow":
            for action in _as_list(statement["Action"]):
                grants.setdefault(action, []).extend(
                    map(_resolved, _as_list(statement["Resource"]))
                )
    return grants


def _resolved(value: Any) -> Any:
    """The value, or itself where only a deployment knows it (the KMS key's ARN)."""
    try:
        return _template().resolve(value)
    except Unresolvable:
        return value


def _covers(patterns: list[str], arn: str) -> bool:
    return any(fnmatchcase(arn, pattern) for pattern in patterns)


def _arn(logical_id: str) -> str:
    return str(_template().get_att(logical_id, "Arn"))


# ---------------------------------------------------------------------------- lint and reader


def test_cfn_lint_passes() -> None:
    """cfn-lint has no ``python -m`` entry point, so call its runner the way its script does."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            str(TEMPLATE_PATH),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_reader_agrees_with_cfn_lints_loader() -> None:
    """The short-form tags become the same long forms cfn-lint (CloudFormation's spec) reads."""
    from cfnlint.decode.cfn_yaml import load

    def plain(node: Any) -> Any:  # cfn-lint's nodes carry positions; compare the values
        if isinstance(node, dict):
            return {str(k): plain(v) for k, v in node.items()}
        if isinstance(node, list):
            return [plain(v) for v in node]
        return node if isinstance(node, bool | int | float) else str(node)

    assert plain(load_document()) == plain(load(str(TEMPLATE_PATH)))


def test_reader_refuses_what_only_a_deployment_knows() -> None:
    template = _template()
    with pytest.raises(Unresolvable):
        template.ref(_queue().logical_id)  # a queue's Ref is its URL
    (topic,) = template.topics()
    key_ref = template.raw_properties(topic.logical_id)["KmsMasterKeyId"]
    with pytest.raises(Unresolvable):
        template.resolve(key_ref)  # a generated key id
    with pytest.raises(ValueError, match="no parameters"):
        Template(parameters={"NoSuchParameter": "x"})


def test_every_name_derives_from_the_name_prefix() -> None:
    """A second environment in the same account collides with no resource of the first."""
    other = Template(parameters={"NamePrefix": "cv-analytics-staging", "ArchiveBucketName": "b"})
    checked = 0
    for logical_id in _template().logical_ids():
        try:
            default = _template().physical_name(logical_id)
        except Unresolvable:
            continue  # a name CloudFormation generates (role, key, mapping) is unique anyway
        assert default != other.physical_name(logical_id), logical_id
        checked += 1
    assert checked >= len(_template().queues()) + len(_template().tables())


# ---------------------------------------------------------------------------- the settings


def test_default_names_are_the_settings_defaults() -> None:
    """The processor and flows find resources by Settings; the template's defaults must match."""
    from deployments.local_stack import SETTINGS_NAMES, SETTINGS_PARAMETERS

    defaults = Settings()
    for logical_id, field in SETTINGS_NAMES.items():
        assert _template().physical_name(logical_id) == getattr(defaults, field), logical_id
    for parameter, field in SETTINGS_PARAMETERS.items():
        assert _template().parameters[parameter] == getattr(defaults, field), parameter


def test_function_environment_names_settings_fields_and_the_local_stack_agrees() -> None:
    from deployments.local_stack import SETTINGS_NAMES

    environment = _function().environment
    wired = {
        variable: variable.removeprefix("CV_ANALYTICS_").lower()
        for variable in environment
        if variable.startswith("CV_ANALYTICS_")
    }
    assert wired
    for variable, field in wired.items():
        assert field in Settings.model_fields, variable
        if field == "region":
            continue
        logical_id = _env_resource(variable)
        assert SETTINGS_NAMES[logical_id] == field, variable
        assert environment[variable] == getattr(Settings(), field), variable


def test_the_events_ttl_attribute_is_the_one_the_processor_writes() -> None:
    events = _template().table(_env_resource("CV_ANALYTICS_QUERY_EVENTS_TABLE"))
    assert events.ttl_attribute == Settings().ttl_attribute
    kept_for_a_time = {events.logical_id, _leads_table().logical_id}
    others = [t for t in _template().tables() if t.logical_id not in kept_for_a_time]
    assert all(t.ttl_attribute is None for t in others)


def _leads_table() -> Any:
    """The table the leads flow writes (tasks/dynamodb/leads.py), found by its name."""
    (table,) = (t for t in _template().tables() if t.name == Settings().leads_table)
    return table


def test_the_leads_table_deletes_a_lead_after_its_retention_and_is_sealed_with_its_key() -> None:
    """docs/spec/report-insights.md section 7: TTL on the attribute the flow writes, the
    week-index the flow queries, encrypted with the leads key; no PITR (a deleted lead
    would stay restorable for 35 days)."""
    from tasks.dynamodb.leads import LEADS_WEEK_INDEX

    leads = _leads_table()
    assert leads.ttl_attribute == "ttl"
    assert not leads.point_in_time_recovery
    (index,) = leads.global_secondary_indexes
    assert index["IndexName"] == LEADS_WEEK_INDEX
    assert _names(index["KeySchema"]) == ["week", *_names(leads.key_schema)]
    sse = leads.properties["SSESpecification"]
    assert (sse["SSEEnabled"], sse["SSEType"]) == (True, "KMS")
    alias_id = referenced_id(
        _template().raw_properties(leads.logical_id)["SSESpecification"]["KMSMasterKeyId"]
    )
    assert sse["KMSMasterKeyId"] == _template().physical_name(alias_id) == Settings().leads_key
    key = _template().resource(referenced_id(_template().raw_properties(alias_id)["TargetKeyId"]))
    assert key.type == "AWS::KMS::Key" and key.properties["EnableKeyRotation"] is True


def test_alarm_thresholds_are_the_runbooks_figures_in_settings() -> None:
    def alarm_on(queue_id: str, metric: str) -> Any:
        (alarm,) = (
            a
            for a in _template().alarms()
            if a.properties["MetricName"] == metric
            and a.properties["Dimensions"] == [{"Name": "QueueName", "Value": queue_id}]
        )
        return alarm

    settings = Settings()
    depth = alarm_on(_dlq().name, "ApproximateNumberOfMessagesVisible")
    assert depth.properties["Threshold"] == settings.dlq_alarm_threshold
    age = alarm_on(_queue().name, "ApproximateAgeOfOldestMessage")
    assert age.properties["Threshold"] == settings.max_queue_age_seconds


def test_log_group_is_the_functions_and_keeps_the_maintained_retention() -> None:
    """Lambda writes to /aws/lambda/<name>; monthly maintenance enforces log_retention_days."""
    logging_config = _template().raw_properties(_function().logical_id)["LoggingConfig"]
    (group,) = (
        g
        for g in _template().log_groups()
        if g.logical_id == referenced_id(logging_config["LogGroup"])
    )
    assert group.name == f"/aws/lambda/{_function().name}"
    assert group.name.startswith(Settings().log_group_prefix)
    assert group.retention_days == Settings().log_retention_days


def test_maintenance_test_alarm_is_declared() -> None:
    from flows.monthly_maintenance import TEST_ALARM

    assert TEST_ALARM in {a.name for a in _template().alarms()}


# ---------------------------------------------------------------------------- IAM


def test_identity_policies_are_least_privilege() -> None:
    statements = _identity_statements(_resources())
    owners = {where.split(".")[0] for where, _ in statements}
    assert {referenced_id(_template().raw_properties(_function().logical_id)["Role"])} <= owners
    assert _template().logical_ids("AWS::IAM::ManagedPolicy")[0] in owners
    assert _least_privilege_violations(statements) == []


def test_least_privilege_check_catches_bad_statements() -> None:
    """Guard against a vacuous walker: statements added anywhere in an IAM resource must fail."""
    bad = {
        "BadManaged": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "PolicyDocument": {
                    "Statement": [
                        {"Sid": "Wild", "Effect": "Allow", "Action": "s3:*", "Resource": "x"},
                        {
                            "Sid": "Star",
                            "Effect": "Allow",
                            "Action": ["sqs:SendMessage"],
                            "Resource": "*",
                        },
                    ]
                }
            },
        },
        "BadRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Policies": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": {
                            "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}
                        },
                    }
                ]
            },
        },
    }
    statements = _identity_statements({**_resources(), **bad})
    violations = _least_privilege_violations(statements)
    assert any("BadManaged" in v and "'s3:*'" in v for v in violations)
    assert any("BadManaged" in v and "sqs:SendMessage" in v for v in violations)
    assert any("BadRole" in v and "'*'" in v for v in violations)


def test_put_metric_data_is_scoped_to_the_namespace_the_processor_uses() -> None:
    """PutMetricData must be on "*", so the namespace condition is the only scope it has."""
    from lambdas.processor.handler import metrics

    namespace = _function().environment["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == metrics.namespace
    scoped = [
        statement
        for _, statement in _identity_statements(_resources())
        if "cloudwatch:PutMetricData" in _as_list(statement.get("Action"))
    ]
    assert scoped
    for statement in scoped:
        condition = statement.get("Condition", {}).get("StringEquals", {})
        assert condition.get("cloudwatch:namespace") == namespace


def test_resource_policies_grant_no_wildcards_to_anyone() -> None:
    """Resource policies may Deny broadly, but Allow only to named principals.

    The one wildcard Allow is the KMS default statement delegating the key to IAM in the account.
    """
    statements = _resource_policy_statements(_resources())
    assert statements
    for where, statement in statements:
        if statement["Effect"] != "Allow":
            continue
        principal = statement["Principal"]
        assert principal not in ("*", {"AWS": "*"}), where
        if any("*" in action for action in _as_list(statement["Action"])):
            root = _template().resolve(principal["AWS"])
            assert root == f"arn:aws:iam::{_template().account_id}:root", where
            assert _resources()[where.split(".")[0]]["Type"] == "AWS::KMS::Key", where


def test_processor_role_grants_what_the_handler_uses_and_no_more() -> None:
    function = _template().raw_properties(_function().logical_id)
    grants = _grants(referenced_id(function["Role"]))
    queue, dlq = _arn(_queue().logical_id), _arn(_dlq().logical_id)
    tables = [
        _arn(_env_resource("CV_ANALYTICS_QUERY_EVENTS_TABLE")),
        _arn(_env_resource("CV_ANALYTICS_ANALYTICS_TABLE")),
    ]
    log_group = _arn(referenced_id(function["LoggingConfig"]["LogGroup"]))

    for action in (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
    ):
        assert queue in grants[action], action
    for action in ("sqs:SendMessage", "sqs:GetQueueUrl"):
        assert dlq in grants[action], action
    assert queue not in grants["sqs:SendMessage"]
    # storage.store_events: one BatchGetItem of known records, one BatchWriteItem of puts
    assert grants["dynamodb:BatchGetItem"] == [tables[1]]
    assert sorted(grants["dynamodb:BatchWriteItem"]) == sorted(tables)
    assert not {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"} & set(grants)
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert grants[action] == [log_group], action
    assert "ManagedPolicyArns" not in _template().raw_properties(referenced_id(function["Role"]))


def _flows_statements() -> list[dict[str, Any]]:
    (policy_id,) = _template().logical_ids("AWS::IAM::ManagedPolicy")
    return [s for _, s in _identity_statements({policy_id: _resources()[policy_id]})]


def test_flows_policy_grants_each_table_only_what_the_flows_do_with_it() -> None:
    """Resources moto cannot check (it authorises DynamoDB calls against "*"), checked here."""
    (policy_id,) = _template().logical_ids("AWS::IAM::ManagedPolicy")
    grants = _grants(policy_id)
    tables = sorted(_arn(t.logical_id) for t in _template().tables())
    events = _arn(_env_resource("CV_ANALYTICS_QUERY_EVENTS_TABLE"))
    analytics = _arn(_env_resource("CV_ANALYTICS_ANALYTICS_TABLE"))
    summaries = _arn("WeeklySummariesTable")
    # the owner's word: read and conditionally updated by its flow, read whole by reports
    feedback = _arn("FeedbackTable")
    # the leads: recorded once (PutItem), their ledger (UpdateItem), read by week (Query)
    leads = _arn(_leads_table().logical_id)

    assert sorted(grants["dynamodb:Query"]) == [
        f"{analytics}/index/week-index",
        f"{leads}/index/week-index",
    ]
    assert sorted(grants["dynamodb:BatchGetItem"]) == sorted([analytics, summaries])
    assert grants["dynamodb:DeleteItem"] == [analytics]
    assert sorted(grants["dynamodb:GetItem"]) == sorted([summaries, feedback])
    assert sorted(grants["dynamodb:UpdateItem"]) == sorted([summaries, feedback, leads])
    # ttl-verification scans the raw events and the leads (ciphertext and ttl only)
    assert sorted(grants["dynamodb:Scan"]) == sorted([events, feedback, leads])
    for action in ("dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive"):
        assert sorted(grants[action]) == sorted([events, leads]), action
    for action in ("dynamodb:DescribeTable", "dynamodb:UpdateContinuousBackups"):
        # monthly maintenance keeps every table but the leads (no PITR, by design)
        assert sorted(grants[action]) == sorted(set(tables) - {leads}), action
    assert grants["dynamodb:CreateBackup"] == [analytics]
    for action in ("dynamodb:DescribeBackup", "dynamodb:DeleteBackup"):
        assert grants[action] == [f"{analytics}/backup/*"], action
    assert grants["dynamodb:ListBackups"] == ["*"]
    # the flows never write raw events or records in bulk: only the processor does
    assert "dynamodb:BatchWriteItem" not in grants
    assert grants["dynamodb:PutItem"] == [leads]  # a new lead, on attribute_not_exists


def test_flows_policy_covers_the_stacks_resources_only() -> None:
    (policy_id,) = _template().logical_ids("AWS::IAM::ManagedPolicy")
    grants = _grants(policy_id)
    for alarm in _template().alarms():
        arn = _arn(alarm.logical_id)
        assert _covers(grants["cloudwatch:SetAlarmState"], arn), alarm.name
    for group in _template().log_groups():
        arn = _arn(group.logical_id).removesuffix(":*")
        assert _covers(grants["logs:PutRetentionPolicy"], arn), group.name
    sender = _template().parameters["SenderIdentity"]
    for action in ("ses:SendRawEmail", "ses:SendEmail"):  # the report; the maintenance summary
        assert [r.rsplit("/", 1)[1] for r in grants[action]] == [sender], action
    (topic,) = _template().topics()
    assert grants["sns:Publish"] == [topic.arn]
    assert grants["sns:ListTopics"] == ["*"]  # tasks/sns.py finds the topic by name


def test_flows_may_redrive_to_the_live_queue_but_not_consume_it() -> None:
    (policy_id,) = _template().logical_ids("AWS::IAM::ManagedPolicy")
    grants = _grants(policy_id)
    queue, dlq = _arn(_queue().logical_id), _arn(_dlq().logical_id)
    for action in ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"):
        assert queue in grants[action], action
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert grants[action] == [dlq], action
    assert dlq not in grants["sqs:SendMessage"]


def test_flows_archive_access_is_limited_to_the_prefixes_the_code_writes() -> None:
    """Object ARNs and the ListBucket prefix condition (moto evaluates no condition)."""
    from datetime import UTC, datetime

    from tasks.core.archive import ARCHIVE_PREFIX
    from tasks.core.triage import archive_key
    from tasks.s3.reports import REPORTS_PREFIX

    dlq_prefix = archive_key("run", 1, datetime(2025, 1, 1, tzinfo=UTC), "w").split("/")[0]
    (policy_id,) = _template().logical_ids("AWS::IAM::ManagedPolicy")
    grants = _grants(policy_id)
    (bucket,) = _template().buckets()
    bucket_arn = _arn(bucket.logical_id)
    written = [REPORTS_PREFIX, ARCHIVE_PREFIX, dlq_prefix]
    for action in ("s3:GetObject", "s3:PutObject"):
        assert sorted(grants[action]) == sorted(f"{bucket_arn}/{p}/*" for p in written), action
    (listing,) = [s for s in _flows_statements() if "s3:ListBucket" in _as_list(s["Action"])]
    assert _resolved(listing["Resource"]) == bucket_arn
    listed = [REPORTS_PREFIX, ARCHIVE_PREFIX]  # report generations and archive manifests
    prefixes = listing["Condition"]["StringLike"]["s3:prefix"]
    assert sorted(prefixes) == sorted(f"{p}/*" for p in listed)
    assert list(listing["Condition"]) == ["StringLike"]


def test_flows_use_the_alarm_key_only_through_sns() -> None:
    """A condition moto does not evaluate: the key is usable only for SNS in the region."""
    (topic,) = _template().topics()
    key = referenced_id(_template().raw_properties(topic.logical_id)["KmsMasterKeyId"])
    (statement,) = [
        s
        for s in _flows_statements()
        if any(a.startswith("kms:") for a in _as_list(s["Action"]))
        and referenced_id(s["Resource"]) == key
    ]
    assert sorted(_as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    condition = _resolved(statement["Condition"])
    assert condition == {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}


def test_flows_seal_and_open_leads_only_under_a_request_id_context() -> None:
    """The leads key: Encrypt and Decrypt only, only with the encryption context the flow
    uses ({"requestId": ...}; a condition moto does not evaluate)."""
    from tasks.leads import encryption_context

    alias = referenced_id(
        _template().raw_properties(_leads_table().logical_id)["SSESpecification"]["KMSMasterKeyId"]
    )
    key = referenced_id(_template().raw_properties(alias)["TargetKeyId"])
    (statement,) = [
        s
        for s in _flows_statements()
        if any(a.startswith("kms:") for a in _as_list(s["Action"]))
        and referenced_id(s["Resource"]) == key
    ]
    assert sorted(_as_list(statement["Action"])) == ["kms:Decrypt", "kms:Encrypt"]
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": list(encryption_context("x"))},
        "Null": {"kms:EncryptionContextKeys": "false"},
    }


def test_flows_policy_is_attached_only_to_a_named_role() -> None:
    (policy_id,) = _template().logical_ids("AWS::IAM::ManagedPolicy")
    document = ("PolicyDocument",)  # refers to the KMS key, whose ARN only AWS knows
    assert "Roles" not in _template().resource_properties_lenient(policy_id, document)
    named = Template(parameters={"FlowsRoleName": "flows-task-role"})
    assert named.resource_properties_lenient(policy_id, document)["Roles"] == ["flows-task-role"]


# ---------------------------------------------------------------------------- queues and Lambda


def test_every_queue_is_fifo_and_deduplicates_by_content() -> None:
    queues = _template().queues()
    assert {q.logical_id for q in queues} == {_queue().logical_id, _dlq().logical_id}
    for queue in queues:
        assert queue.fifo, queue.name
        assert queue.name.endswith(".fifo"), queue.name
        assert queue.properties["ContentBasedDeduplication"] is True, queue.name
        assert queue.properties["SqsManagedSseEnabled"] is True, queue.name


def test_main_queue_redrives_to_the_dlq_after_a_few_receives() -> None:
    queue, dlq = _queue(), _dlq()
    assert queue.properties["RedrivePolicy"]["deadLetterTargetArn"] == _arn(dlq.logical_id)
    assert queue.max_receive_count is not None and 1 < queue.max_receive_count <= 10
    assert dlq.dead_letter_queue is None
    # the DLQ keeps what it receives longer than the queue (time to triage), at most SQS's cap
    assert queue.retention_seconds < dlq.retention_seconds <= 14 * 24 * 3600


def test_dlq_accepts_redrives_from_the_main_queue_only() -> None:
    """The ARN is built by hand (a GetAtt would be circular), so check it is the queue's."""
    allow = _dlq().properties["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    assert allow["sourceQueueArns"] == [_arn(_queue().logical_id)]


def test_visibility_timeout_is_at_least_six_function_timeouts() -> None:
    """AWS's guidance for SQS event sources, so retries do not overlap a batch in flight."""
    assert _queue().visibility_timeout >= 6 * _function().timeout


def test_event_source_mapping_reports_partial_failures_in_fifo_sized_batches() -> None:
    mapping = _mapping()
    assert _template().type_of(mapping.queue) == "AWS::SQS::Queue"
    assert _template().type_of(mapping.function) == "AWS::Lambda::Function"
    assert 1 <= mapping.batch_size <= 10  # the FIFO maximum
    assert mapping.reports_batch_item_failures
    assert "MaximumBatchingWindowInSeconds" not in mapping.properties  # not for FIFO sources


def test_processor_function_runs_the_handler_on_this_python() -> None:
    import importlib

    function = _function()
    assert function.properties["Runtime"] == f"python3.{sys.version_info.minor}"
    module, _, attribute = function.properties["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), attribute))
    layers = function.properties["Layers"]
    assert all(f"python3{sys.version_info.minor}" in layer for layer in layers)
    code = _template().raw_properties(function.logical_id)["Code"]
    assert set(code) == {"S3Bucket", "S3Key"}  # a package from parameters, not inline code
    assert all(referenced_id(v) in _template().document["Parameters"] for v in code.values())


def test_processor_environment_sets_no_reserved_variables() -> None:
    variables = _function().environment
    assert variables["POWERTOOLS_SERVICE_NAME"] == _function().name
    reserved = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert not reserved & set(variables)
    assert not any(name.startswith("AWS_LAMBDA_") for name in variables)


# ---------------------------------------------------------------------------- tables


def _names(keys: list[dict[str, str]]) -> list[str]:
    return [key["AttributeName"] for key in keys]


def test_tables_are_on_demand_recoverable_and_encrypted() -> None:
    tables = _template().tables()
    assert tables
    for table in tables:
        assert table.properties["BillingMode"] == "PAY_PER_REQUEST", table.name
        # the leads are kept for their retention only: no restorable copy beyond it
        assert table.point_in_time_recovery is (table.name != Settings().leads_table), table.name
        assert table.properties["SSESpecification"]["SSEEnabled"] is True, table.name


def test_table_attributes_are_exactly_the_key_attributes() -> None:
    """DynamoDB rejects attribute definitions no key or index uses, and keys must be defined."""
    for table in _template().tables():
        keys = set(_names(table.key_schema))
        for index in table.global_secondary_indexes:
            keys |= set(_names(index["KeySchema"]))
        defined = _names(table.properties["AttributeDefinitions"])
        assert sorted(defined) == sorted(keys), table.name


def test_the_week_index_the_flows_query_exists() -> None:
    from tasks.dynamodb.week_index import WEEK_INDEX

    analytics = _template().table(_env_resource("CV_ANALYTICS_ANALYTICS_TABLE"))
    (index,) = (i for i in analytics.global_secondary_indexes if i["IndexName"] == WEEK_INDEX)
    assert index["Projection"] == {"ProjectionType": "ALL"}
    # partitioned by week, and the table's own key keeps the entries of a week distinct
    assert _names(index["KeySchema"])[1:] == _names(analytics.key_schema)


# ---------------------------------------------------------------------------- alarms


def test_every_alarm_notifies_the_alarm_topic_both_ways() -> None:
    (topic,) = _template().topics()
    alarms = _template().alarms()
    assert alarms
    for alarm in alarms:
        assert alarm.properties["AlarmActions"] == [topic.arn], alarm.name
        assert alarm.properties["OKActions"] == [topic.arn], alarm.name
        assert alarm.properties["TreatMissingData"] == "notBreaching", alarm.name
        assert alarm.name.startswith(f"{_template().parameters['NamePrefix']}-"), alarm.name


def test_every_alarm_watches_a_resource_of_this_stack() -> None:
    dimension_targets = {"QueueName": "AWS::SQS::Queue", "FunctionName": "AWS::Lambda::Function"}
    watched = set()
    for alarm in _template().alarms():
        raw = _template().raw_properties(alarm.logical_id)
        (dimension,) = raw["Dimensions"]
        target = referenced_id(dimension["Value"])
        assert _template().type_of(target) == dimension_targets[dimension["Name"]], alarm.name
        namespace = {"AWS::SQS::Queue": "AWS/SQS", "AWS::Lambda::Function": "AWS/Lambda"}
        assert alarm.properties["Namespace"] == namespace[_template().type_of(target)]
        watched.add(target)
    assert {_queue().logical_id, _dlq().logical_id, _function().logical_id} <= watched


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_can_use() -> None:
    """Alarms cannot publish to a topic encrypted with alias/aws/sns; the key must allow them."""
    (topic,) = _template().topics()
    key_id = referenced_id(_template().raw_properties(topic.logical_id)["KmsMasterKeyId"])
    key = _template().resource(key_id)
    assert key.type == "AWS::KMS::Key"
    assert key.properties["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key.properties["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(_as_list(cloudwatch[0]["Action"]))


def test_cloudwatch_may_use_the_alarm_key_only_for_this_accounts_alarms() -> None:
    """Confused-deputy conditions on the service principal's key grant (not evaluated by moto)."""
    (topic,) = _template().topics()
    key_id = referenced_id(_template().raw_properties(topic.logical_id)["KmsMasterKeyId"])
    statements = _template().resource(key_id).properties["KeyPolicy"]["Statement"]
    services = [s for s in statements if "Service" in s["Principal"]]
    assert services
    for statement in services:
        condition = statement["Condition"]
        assert condition["StringEquals"] == {"aws:SourceAccount": _template().account_id}
        (pattern,) = _as_list(condition["ArnLike"]["aws:SourceArn"])
        for alarm in _template().alarms():
            assert fnmatchcase(_arn(alarm.logical_id), pattern), alarm.name
        assert not fnmatchcase(
            _arn(_template().alarms()[0].logical_id).replace(_template().account_id, "999"),
            pattern,
        )


def test_alarm_email_subscription_only_when_an_address_is_given() -> None:
    assert _template().logical_ids("AWS::SNS::Subscription") == []
    with_email = Template(parameters={"AlarmEmail": "ops@example.dev"})
    (subscription_id,) = with_email.logical_ids("AWS::SNS::Subscription")
    subscription = with_email.resource(subscription_id).properties
    (topic,) = with_email.topics()
    assert subscription == {
        "TopicArn": topic.arn,
        "Protocol": "email",
        "Endpoint": "ops@example.dev",
    }


# ---------------------------------------------------------------------------- archive bucket


def test_archive_bucket_is_private_encrypted_and_versioned_with_expiry() -> None:
    (bucket,) = _template().buckets()
    properties = bucket.properties
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    encryption = bucket.encryption()
    assert encryption is not None
    (rule,) = encryption["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert properties["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
    }
    # versioning keeps overwritten archives; the lifecycle must then expire the old copies
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    lifecycle = bucket.lifecycle()
    assert lifecycle is not None
    enabled = [r for r in lifecycle["Rules"] if r["Status"] == "Enabled"]
    assert any("NoncurrentVersionExpiration" in r for r in enabled)
    assert any("AbortIncompleteMultipartUpload" in r for r in enabled)


def test_archive_bucket_denies_insecure_transport_on_bucket_and_objects() -> None:
    (bucket,) = _template().buckets()
    policies = [
        _template().resource(i).properties for i in _template().logical_ids("AWS::S3::BucketPolicy")
    ]
    (policy,) = (p for p in policies if p["Bucket"] == bucket.name)
    deny_tls = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert deny_tls
    assert deny_tls[0]["Principal"] == "*"
    arn = _arn(bucket.logical_id)
    assert sorted(deny_tls[0]["Resource"]) == sorted([arn, f"{arn}/*"])


# ---------------------------------------------------------------------------- outputs


def test_outputs_refer_to_declared_resources() -> None:
    outputs = _template().document["Outputs"]
    assert outputs
    for name, output in outputs.items():
        assert referenced_id(output["Value"]) in _resources(), name
