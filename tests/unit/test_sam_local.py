"""What `make sam` hands SAM CLI: the base image's tag and the template copy (no Docker needed)."""

import json
import subprocess

import pytest

from shared.local.sam import SAM, image_tag, local_template, recipe


def method(authorization: str, http_method: str) -> dict:
    properties = {"AuthorizationType": authorization, "HttpMethod": http_method, "ResourceId": {"Ref": "Docs"}}
    if authorization == "CUSTOM":
        properties["AuthorizerId"] = {"Ref": "Authorizer"}
    return {"Type": "AWS::ApiGateway::Method", "Properties": properties}


def test_the_base_image_is_tagged_where_sam_local_looks_for_the_runtime():
    if not SAM.exists():
        pytest.skip(f"SAM CLI is not installed at {SAM} (make sam installs it)")
    looked_up = subprocess.run(
        [str(SAM.with_name("python")), "-c", "from samcli.local.docker.lambda_image import Runtime; "
         "print(Runtime.get_image_name_tag('python3.13', 'x86_64'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()

    assert image_tag("python3.13", "x86_64") == f"public.ecr.aws/lambda/{looked_up}"


def test_a_runtime_without_a_debian_python_has_no_base_image():
    with pytest.raises(ValueError, match="python3.12"):
        image_tag("python3.12", "x86_64")
    assert recipe("python3.13", "x86_64") != recipe("python3.13", "arm64")


def test_the_template_copy_declares_the_local_settings_and_reads_public_methods_last(tmp_path):
    original = {"Resources": {
        "Function": {"Type": "AWS::Lambda::Function",
                     "Properties": {"Environment": {"Variables": {"TABLE_NAME": {"Ref": "Table"}}}}},
        "Bare": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "DocsGet": method("NONE", "GET"),
        "DocsAny": method("CUSTOM", "ANY"),
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    }}
    path = tmp_path / "Stack.template.json"
    path.write_text(json.dumps(original))

    copy = json.loads(local_template(path, ["DYNAMODB_ENDPOINT_URL", "TABLE_NAME"]).read_text())

    assert copy["Resources"]["Function"]["Properties"]["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": "Table"}, "DYNAMODB_ENDPOINT_URL": ""}
    assert copy["Resources"]["Bare"]["Properties"]["Environment"]["Variables"] == {
        "DYNAMODB_ENDPOINT_URL": "", "TABLE_NAME": ""}
    assert list(copy["Resources"])[-1] == "DocsGet"
    assert copy["Resources"]["DocsGet"]["Properties"]["OperationName"] == "public"
    assert "OperationName" not in copy["Resources"]["DocsAny"]["Properties"]
    assert json.loads(path.read_text()) == original
