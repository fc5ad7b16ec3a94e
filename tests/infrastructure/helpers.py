"""Reading the synthesized template: which function serves what, with which permissions."""

from typing import Any

from infra.functions_construct import lambda_handler


def resources(cfn: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in cfn["Resources"].items() if r["Type"] == resource_type}


def only(cfn: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(cfn, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


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


def table_arn(cfn: dict[str, Any]) -> dict[str, Any]:
    table_id, _ = only(cfn, "AWS::DynamoDB::Table")
    return {"Fn::GetAtt": [table_id, "Arn"]}


def dynamodb_actions(statement: dict[str, Any]) -> set[str]:
    return {a for a in as_list(statement["Action"]) if a.startswith("dynamodb:")}


def leading_keys(statement: dict[str, Any]) -> set[str] | None:
    condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
    keys = condition.get("dynamodb:LeadingKeys")
    return None if keys is None else set(as_list(keys))


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
