"""Static checks of the CloudFormation template: lint, least privilege, and the runbook's figures.

The template is parsed with cfn-lint's own YAML loader, which turns the short intrinsic tags
(!Ref, !Sub, !GetAtt) into their long JSON forms; no AWS call is made.
"""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.cfn_yaml import load

TEMPLATE = Path(__file__).resolve().parents[2] / "deployments" / "template.yaml"

# Actions that support no resource-level permissions, so AWS requires Resource "*".
STAR_RESOURCE_ACTIONS = frozenset(
    {
        "cloudwatch:PutMetricData",
        "cloudwatch:GetMetricData",
        "cloudwatch:GetMetricStatistics",
        "logs:DescribeLogGroups",
        "dynamodb:ListBackups",
    }
)

# Values of the pseudo parameters used when resolving !Sub strings in the tests.
PSEUDO_PARAMETERS = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
}

NAME_PROPERTY = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
}


@cache
def _template() -> dict[str, Any]:
    return load(str(TEMPLATE))


def _resources() -> dict[str, Any]:
    return _template()["Resources"]


def _resolve(value: Any) -> Any:
    """Resolve Ref/Sub against parameter defaults, so names can be compared as strings."""
    if isinstance(value, dict) and len(value) == 1:
        parameters = _template()["Parameters"]
        if "Ref" in value and value["Ref"] in parameters:
            return parameters[value["Ref"]].get("Default")
        if "Ref" in value and value["Ref"] in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[value["Ref"]]
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in PSEUDO_PARAMETERS:
                    return PSEUDO_PARAMETERS[name]
                if name in parameters:
                    return str(parameters[name]["Default"])
                return match.group(0)

            return re.sub(r"\$\{([^}!]+)\}", substitute, value["Fn::Sub"])
    return value


def _named(resource_type: str, name: str) -> tuple[str, dict[str, Any]]:
    """Return (logical id, properties) of the one resource of this type with this name."""
    found = [
        (logical_id, resource.get("Properties", {}))
        for logical_id, resource in _resources().items()
        if resource["Type"] == resource_type
        and _resolve(resource.get("Properties", {}).get(NAME_PROPERTY[resource_type])) == name
    ]
    assert len(found) == 1, f"expected one {resource_type} named {name!r}, found {found}"
    return found[0]


def _of_type(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in _resources().items()
        if resource["Type"] == resource_type
    }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


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


def _grants(logical_id: str) -> dict[str, list[Any]]:
    """Map each action an identity policy allows to the resources it is allowed on."""
    grants: dict[str, list[Any]] = {}
    for _, statement in _identity_statements({logical_id: _resources()[logical_id]}):
        if statement["Effect"] == "Allow":
            for action in _as_list(statement["Action"]):
                grants.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return grants


def _arn(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


# ---------------------------------------------------------------------------- lint


def test_cfn_lint_passes() -> None:
    """cfn-lint has no ``python -m`` entry point, so call its runner the way its script does."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from cfnlint.runner import main; sys.exit(main())",
            str(TEMPLATE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------- IAM


def test_identity_policies_are_least_privilege() -> None:
    statements = _identity_statements(_resources())
    owners = {where.split(".")[0] for where, _ in statements}
    assert {"ProcessorRole", "FlowsPolicy"} <= owners
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


def test_put_metric_data_is_scoped_to_the_project_namespace() -> None:
    """PutMetricData must be on "*", so the namespace condition is the only scope it has."""
    for where, statement in _identity_statements(_resources()):
        if "cloudwatch:PutMetricData" in _as_list(statement.get("Action")):
            condition = statement.get("Condition", {}).get("StringEquals", {})
            assert condition.get("cloudwatch:namespace") == "CVAnalytics", where


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
            root = _resolve(principal["AWS"])
            assert root == "arn:aws:iam::123456789012:root", where
            assert _resources()[where.split(".")[0]]["Type"] == "AWS::KMS::Key", where


def test_processor_role_grants_what_the_handler_uses() -> None:
    queue_id, _ = _named("AWS::SQS::Queue", "cv-analytics-queue.fifo")
    dlq_id, _ = _named("AWS::SQS::Queue", "cv-analytics-dlq.fifo")
    events_id, _ = _named("AWS::DynamoDB::Table", "cv-analytics-query-events")
    analytics_id, _ = _named("AWS::DynamoDB::Table", "cv-analytics-analytics")
    grants = _grants("ProcessorRole")

    for action in (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
    ):
        assert _arn(queue_id) in grants[action], action
    for action in ("sqs:SendMessage", "sqs:GetQueueUrl"):
        assert _arn(dlq_id) in grants[action], action
    assert _arn(queue_id) not in grants["sqs:SendMessage"]
    for action in (
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
    ):
        assert grants[action] == [_arn(events_id), _arn(analytics_id)], action
    log_group_id, _ = _named("AWS::Logs::LogGroup", "/aws/lambda/cv-analytics-processor")
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert grants[action] == [_arn(log_group_id)], action
    role = _resources()["ProcessorRole"]["Properties"]
    assert "ManagedPolicyArns" not in role


def test_flows_policy_scopes() -> None:
    _, properties = _named("AWS::IAM::ManagedPolicy", "cv-analytics-flows")
    assert properties["PolicyDocument"]
    events_id, _ = _named("AWS::DynamoDB::Table", "cv-analytics-query-events")
    grants = _grants("FlowsPolicy")

    assert grants["dynamodb:Scan"] == [_arn(events_id)]
    assert grants["dynamodb:ListBackups"] == ["*"]
    assert [_resolve(r) for r in grants["dynamodb:DeleteBackup"]] == [
        f"${{{table}.Arn}}/backup/*"
        for table in ("QueryEventsTable", "AnalyticsTable", "WeeklySummariesTable")
    ]
    assert _resolve(grants["cloudwatch:SetAlarmState"][0]) == (
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cv-analytics-*"
    )
    assert _resolve(grants["logs:PutRetentionPolicy"][0]) == (
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/cv-analytics-*"
    )
    assert _resolve(grants["ses:SendRawEmail"][0]) == (
        "arn:aws:ses:us-east-1:123456789012:identity/contact@example.dev"
    )
    assert grants["s3:ListBucket"] == [_arn("ArchiveBucket")]
    assert grants["s3:GetObject"] == [{"Fn::Sub": "${ArchiveBucket.Arn}/*"}]


# ---------------------------------------------------------------------------- queues and Lambda


def test_main_queue() -> None:
    _, queue = _named("AWS::SQS::Queue", "cv-analytics-queue.fifo")
    dlq_id, _ = _named("AWS::SQS::Queue", "cv-analytics-dlq.fifo")
    _, function = _named("AWS::Lambda::Function", "cv-analytics-processor")

    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is True
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == _arn(dlq_id)
    assert queue["MessageRetentionPeriod"] == 4 * 24 * 3600
    # AWS's guidance for SQS event sources: visibility timeout >= 6x the function timeout.
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]


def test_dead_letter_queue() -> None:
    _, dlq = _named("AWS::SQS::Queue", "cv-analytics-dlq.fifo")
    assert dlq["FifoQueue"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    allow = dlq["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    assert [_resolve(arn) for arn in allow["sourceQueueArns"]] == [
        "arn:aws:sqs:us-east-1:123456789012:cv-analytics-queue.fifo"
    ]


def test_event_source_mapping() -> None:
    queue_id, _ = _named("AWS::SQS::Queue", "cv-analytics-queue.fifo")
    function_id, _ = _named("AWS::Lambda::Function", "cv-analytics-processor")
    (mapping,) = _of_type("AWS::Lambda::EventSourceMapping").values()
    properties = mapping["Properties"]

    assert properties["EventSourceArn"] == _arn(queue_id)
    assert properties["FunctionName"] == {"Ref": function_id}
    assert properties["BatchSize"] == 10
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumBatchingWindowInSeconds" not in properties


def test_processor_function() -> None:
    _, function = _named("AWS::Lambda::Function", "cv-analytics-processor")
    log_group_id, _ = _named("AWS::Logs::LogGroup", "/aws/lambda/cv-analytics-processor")
    parameters = _template()["Parameters"]

    assert function["Runtime"] == "python3.11"
    assert function["Handler"] == "lambdas.processor.handler.handler"
    assert function["Timeout"] == 30
    assert function["MemorySize"] == 512
    assert function["Code"] == {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}}
    assert function["Layers"] == [{"Ref": "PowertoolsLayerArn"}]
    layer_default = parameters["PowertoolsLayerArn"]["Default"]
    assert "AWSLambdaPowertoolsPythonV3-python311-x86_64" in layer_default
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}

    variables = function["Environment"]["Variables"]
    assert {
        "CV_ANALYTICS_QUEUE_NAME",
        "CV_ANALYTICS_DLQ_NAME",
        "CV_ANALYTICS_QUERY_EVENTS_TABLE",
        "CV_ANALYTICS_ANALYTICS_TABLE",
    } <= set(variables)
    assert _resolve(variables["POWERTOOLS_SERVICE_NAME"]) == "cv-analytics-processor"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "CVAnalytics"
    assert variables["LOG_LEVEL"] == "INFO"
    reserved = {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert not reserved & set(variables)
    assert not any(name.startswith("AWS_LAMBDA_") for name in variables)


def test_log_group_retention() -> None:
    _, log_group = _named("AWS::Logs::LogGroup", "/aws/lambda/cv-analytics-processor")
    assert log_group["RetentionInDays"] == 14


# ---------------------------------------------------------------------------- tables


def _key_schema(properties: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key["AttributeName"], key["KeyType"]) for key in properties["KeySchema"]]


def _attribute_types(properties: dict[str, Any]) -> dict[str, str]:
    return {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}


@pytest.mark.parametrize(
    "name",
    ["cv-analytics-query-events", "cv-analytics-analytics", "cv-analytics-weekly-summaries"],
)
def test_tables_are_on_demand_recoverable_and_encrypted(name: str) -> None:
    _, table = _named("AWS::DynamoDB::Table", name)
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True


def test_query_events_table() -> None:
    _, table = _named("AWS::DynamoDB::Table", "cv-analytics-query-events")
    assert _key_schema(table) == [("requestId", "HASH"), ("eventKey", "RANGE")]
    assert _attribute_types(table) == {"requestId": "S", "eventKey": "S"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_analytics_table_and_week_index() -> None:
    _, table = _named("AWS::DynamoDB::Table", "cv-analytics-analytics")
    assert _key_schema(table) == [("requestId", "HASH")]
    assert _attribute_types(table) == {"requestId": "S", "weekKey": "S"}
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "week-index"
    assert _key_schema(index) == [("weekKey", "HASH"), ("requestId", "RANGE")]
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_weekly_summaries_table() -> None:
    _, table = _named("AWS::DynamoDB::Table", "cv-analytics-weekly-summaries")
    assert _key_schema(table) == [("week", "HASH")]
    assert _attribute_types(table) == {"week": "S"}


# ---------------------------------------------------------------------------- alarms


@pytest.mark.parametrize(
    ("name", "namespace", "metric", "statistic", "threshold", "evaluation_periods", "target"),
    [
        (
            "cv-analytics-dlq-depth",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "Maximum",
            10,
            1,
            {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]},
        ),
        ("cv-analytics-processor-errors", "AWS/Lambda", "Errors", "Sum", 5, 1, None),
        ("cv-analytics-processor-throttles", "AWS/Lambda", "Throttles", "Sum", 0, 1, None),
        (
            "cv-analytics-queue-age",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            "Maximum",
            900,
            2,
            {"Fn::GetAtt": ["Queue", "QueueName"]},
        ),
    ],
)
def test_alarms(
    name: str,
    namespace: str,
    metric: str,
    statistic: str,
    threshold: int,
    evaluation_periods: int,
    target: dict[str, Any] | None,
) -> None:
    _, alarm = _named("AWS::CloudWatch::Alarm", name)
    topic_id, _ = _named("AWS::SNS::Topic", "cv-analytics-alarms")
    function_id, _ = _named("AWS::Lambda::Function", "cv-analytics-processor")

    assert alarm["Namespace"] == namespace
    assert alarm["MetricName"] == metric
    assert alarm["Statistic"] == statistic
    assert alarm["Threshold"] == threshold
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Period"] == 300
    assert alarm["EvaluationPeriods"] == evaluation_periods
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert alarm["OKActions"] == [{"Ref": topic_id}]
    (dimension,) = alarm["Dimensions"]
    expected = target if target is not None else {"Ref": function_id}
    assert dimension["Value"] == expected


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_can_use() -> None:
    """Alarms cannot publish to a topic encrypted with alias/aws/sns; the key must allow them."""
    _, topic = _named("AWS::SNS::Topic", "cv-analytics-alarms")
    key_ref = topic["KmsMasterKeyId"]
    assert set(key_ref) == {"Ref"}
    key = _resources()[key_ref["Ref"]]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(_as_list(cloudwatch[0]["Action"]))


def test_alarm_email_subscription_is_optional() -> None:
    (subscription,) = _of_type("AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert _template()["Parameters"]["AlarmEmail"]["Default"] == ""
    assert _template()["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }


# ---------------------------------------------------------------------------- archive bucket


def test_archive_bucket_is_private_and_encrypted() -> None:
    bucket_id, bucket = _named("AWS::S3::Bucket", "cv-analytics-archive")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}

    (policy,) = (
        p["Properties"]
        for p in _of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    )
    deny_tls = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
    ]
    assert deny_tls
    assert deny_tls[0]["Principal"] == "*"


# ---------------------------------------------------------------------------- outputs


def test_outputs() -> None:
    outputs = _template()["Outputs"]
    assert {
        "QueueUrl",
        "DeadLetterQueueUrl",
        "QueryEventsTableName",
        "AnalyticsTableName",
        "WeeklySummariesTableName",
        "AlarmTopicArn",
        "ArchiveBucketName",
        "ProcessorFunctionArn",
    } <= set(outputs)
    assert outputs["ProcessorFunctionArn"]["Value"] == _arn("ProcessorFunction")
