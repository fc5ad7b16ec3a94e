"""Reading the synthesized template: which function serves what, with which permissions."""

import json
import re
from typing import Any

from infra.functions_construct import lambda_handler


def resources(cfn: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in cfn["Resources"].items() if r["Type"] == resource_type}


def only(cfn: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(cfn, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def named(cfn: dict[str, Any], resource_type: str, prefix: str) -> tuple[str, dict[str, Any]]:
    """The one resource of a type whose logical id starts with the construct path `prefix`."""
    found = {k: r for k, r in resources(cfn, resource_type).items() if k.startswith(prefix)}
    assert len(found) == 1, f"expected one {resource_type} named {prefix}*, found {sorted(found)}"
    return next(iter(found.items()))


def data_table(cfn: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The service's single table (the Data construct's), beside which only the idempotency table exists."""
    tables = {k: r for k, r in resources(cfn, "AWS::DynamoDB::Table").items() if k.startswith("DataTable")}
    assert len(tables) == 1, f"expected one DataTable, found {sorted(tables)}"
    return next(iter(tables.items()))


def function_ids_by_handler(cfn: dict[str, Any]) -> dict[str, str]:
    """Lambda handler string -> logical id of its function."""
    functions = resources(cfn, "AWS::Lambda::Function")
    by_handler = {r["Properties"]["Handler"]: logical_id for logical_id, r in functions.items()}
    assert len(by_handler) == len(functions), "two functions share a handler"
    return by_handler


def function_id(cfn: dict[str, Any], entry_point: str) -> str:
    return function_ids_by_handler(cfn)[lambda_handler(entry_point)]


def policy_statements(cfn: dict[str, Any], function_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to a function's execution role."""
    role_id = cfn["Resources"][function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    role = cfn["Resources"][role_id]["Properties"]
    assert not role.get("ManagedPolicyArns"), "execution roles carry no managed policies"
    statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in resources(cfn, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def function_names(cfn: dict[str, Any]) -> dict[str, str]:
    """Short name of each function ("records" for functions.records.handler.handler) -> its logical id."""
    names = {handler.split(".")[1]: logical_id for handler, logical_id in function_ids_by_handler(cfn).items()}
    assert len(names) == len(function_ids_by_handler(cfn)), "two functions live in one package"
    return names


Grants = dict[tuple[str, frozenset[str] | str | None], frozenset[str]]


def on(resource: str, *leading_keys: str) -> tuple[str, frozenset[str] | None]:
    """The key of a grant in a Grants dict: a resource and the partition prefixes (LeadingKeys) the
    grant is limited to, if any."""
    return resource, frozenset(leading_keys) if leading_keys else None


def function_grants(cfn: dict[str, Any], function_logical_id: str) -> Grants:
    """What a function's execution role is allowed, as {(resource, leading keys): actions}.

    Resources are named for reading: "table", "table stream", "index GSI1", "own log group", "*",
    else "<kind> <logical id less its hash>" ("secret FunctionsPaginationSecret"). Statements are
    kept apart by condition (a BatchGetItem must fit one statement's LeadingKeys whole); a condition
    other than a LeadingKeys prefix list stays in the key as its JSON, so it cannot match by accident."""
    properties = cfn["Resources"][function_logical_id]["Properties"]
    own_log_group = properties.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
    grants: dict[tuple[str, frozenset[str] | str | None], set[str]] = {}
    for statement in policy_statements(cfn, function_logical_id):
        unexpected = set(statement) - {"Action", "Effect", "Resource", "Condition", "Sid"}
        assert not unexpected and statement["Effect"] == "Allow", f"unexpected statement: {statement}"
        condition = _condition(statement.get("Condition"))
        for resource in as_list(statement["Resource"]):
            label = _resource_label(cfn, resource, own_log_group)
            grants.setdefault((label, condition), set()).update(as_list(statement["Action"]))
    return {key: frozenset(actions) for key, actions in grants.items()}


def format_grant_key(key: tuple[str, frozenset[str] | str | None]) -> str:
    """A grant's key as the literal expectations write it: on('table', 'ACCOUNT*')."""
    resource, condition = key
    arguments = [resource, *(sorted(condition) if isinstance(condition, frozenset) else [])]
    suffix = f"  # condition {condition}" if isinstance(condition, str) else ""
    return f"on({', '.join(map(repr, arguments))}){suffix}"


def format_grants(grants: Grants) -> str:
    """Grants written as the tests' literal expectations write them."""
    lines = [f"    {format_grant_key(key)}: {{{', '.join(map(repr, sorted(actions)))}}},"
             for key, actions in sorted(grants.items(), key=lambda item: format_grant_key(item[0]))]
    return "{\n" + "\n".join(lines) + "\n}"


def _condition(condition: dict[str, Any] | None) -> frozenset[str] | str | None:
    if not condition:
        return None
    if list(condition) == ["ForAllValues:StringLike"] and list(condition["ForAllValues:StringLike"]) == [
        "dynamodb:LeadingKeys"
    ]:
        return frozenset(as_list(condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]))
    return json.dumps(condition, sort_keys=True)


_KINDS = {
    "AWS::DynamoDB::Table": "table",
    "AWS::SecretsManager::Secret": "secret",
    "AWS::SQS::Queue": "queue",
    "AWS::Logs::LogGroup": "log group",
    "AWS::SNS::Topic": "topic",
    "AWS::KMS::Key": "key",
    "AWS::S3::Bucket": "bucket",
    "AWS::Events::EventBus": "bus",
}


def _resource_label(cfn: dict[str, Any], resource: Any, own_log_group: str | None) -> str:
    if isinstance(resource, str):
        return resource
    table_id, _ = data_table(cfn)
    if "Fn::Join" in resource:
        separator, parts = resource["Fn::Join"]
        if separator == "" and len(parts) == 2 and parts[0] == {"Fn::GetAtt": [table_id, "Arn"]}:
            index = re.fullmatch(r"/index/([^/*]+)", parts[1])
            if index:
                return f"index {index.group(1)}"
        return json.dumps(resource, sort_keys=True)
    if "Ref" in resource:
        logical_id, attribute = resource["Ref"], "Arn"
    elif "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
    else:
        return json.dumps(resource, sort_keys=True)
    if logical_id == table_id:
        return {"Arn": "table", "StreamArn": "table stream"}.get(attribute, f"table {attribute}")
    if logical_id == own_log_group and attribute == "Arn":
        return "own log group"
    resource_type = cfn["Resources"].get(logical_id, {}).get("Type", "parameter")
    name = f"{_KINDS.get(resource_type, resource_type)} {re.sub(r'[0-9A-F]{8}$', '', logical_id)}"
    return name if attribute == "Arn" else f"{name} {attribute}"


def resource_paths(cfn: dict[str, Any]) -> dict[str, str]:
    """Logical id of each API Gateway resource -> its full path ("/crm/records/{recordId}")."""
    api_resources = resources(cfn, "AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        properties = api_resources[logical_id]["Properties"]
        parent = properties["ParentId"]
        prefix = path_of(parent["Ref"]) if "Ref" in parent else ""
        return f"{prefix}/{properties['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in api_resources}


def methods_by_route(cfn: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, path) -> the method's properties."""
    paths = resource_paths(cfn)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for method in resources(cfn, "AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        resource = properties["ResourceId"]
        path = paths[resource["Ref"]] if "Ref" in resource else "/"
        key = (properties["HttpMethod"], path)
        assert key not in found, f"{key} is declared twice"
        found[key] = properties
    return found


def integrated_function_id(method: dict[str, Any]) -> str:
    """Logical id of the Lambda function a proxy integration invokes."""
    parts = method["Integration"]["Uri"]["Fn::Join"][1]
    targets = {p["Fn::GetAtt"][0] for p in parts if isinstance(p, dict) and "Fn::GetAtt" in p}
    assert len(targets) == 1, parts
    return targets.pop()
