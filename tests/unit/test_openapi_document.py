"""The committed OpenAPI document: current with the resolvers and models, a valid OpenAPI 3.1
document, and in step with the route table both ways."""

import json

import pytest
from openapi_spec_validator import validate

from shared import openapi, routes

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(openapi.DOCUMENT_PATH.read_text(encoding="utf-8"))


def test_the_committed_document_is_current():
    committed = openapi.DOCUMENT_PATH.read_text(encoding="utf-8")
    assert openapi.document_text() == committed, (
        f"{openapi.DOCUMENT_PATH} is out of date with the resolvers and models: run `make openapi`"
    )


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_every_route_is_an_operation_with_its_id_and_exactly_its_statuses(document):
    for route in routes.ROUTES:
        operation = document["paths"].get(route.path, {}).get(route.method.lower())
        assert operation is not None, f"{route.method} {route.path} is not in the document"
        assert operation["operationId"] == route.operation
        assert sorted(int(status) for status in operation["responses"]) == list(route.statuses), (
            f"{route.method} {route.path}"
        )


def test_every_operation_is_a_route(document):
    declared = {(route.method.lower(), route.path) for route in routes.ROUTES}
    operations = [(method, path) for path, item in document["paths"].items() for method in item
                  if method in HTTP_METHODS]
    assert len(operations) == len(set(operations))
    assert set(operations) == declared
    operation_ids = [item[method]["operationId"] for path, item in document["paths"].items() for method in item
                     if method in HTTP_METHODS]
    assert len(operation_ids) == len(set(operation_ids))


def test_the_request_schemas_say_what_validation_refuses(document):
    """What schema fuzzing found the document did not say (a request it allows is not a 400 for its
    shape alone)."""
    schemas = document["components"]["schemas"]
    for name in ("UpdateKanbanRequest", "UpdateRecordRequest", "UpdateUserRequest"):
        assert schemas[name]["minProperties"] == 1, name  # an empty body is refused
        nullable = [field for field, schema in schemas[name]["properties"].items()
                    if {"type": "null"} in schema.get("anyOf", [])]
        assert nullable == [], f"{name}: an explicit null is refused"
    assert "id" not in schemas["NewFieldInput"]["properties"]  # a new kanban has no field to keep
    for name in ("FieldInput", "NewFieldInput"):
        assert schemas[name]["then"]["required"] == ["options"]  # select and multiselect have options
    assert schemas["CreateRecordRequest"]["properties"]["title"]["pattern"] == r"\S"  # " " is stripped away
    for path in ("/crm/records", "/crm/search"):  # a status filter has the shape of a status value
        status = next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "status")
        assert status["schema"]["anyOf"][0]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,49}$", path


def test_every_write_takes_an_idempotency_key_and_says_what_it_answers(document):
    parameter = document["components"]["parameters"]["IdempotencyKey"]
    assert (parameter["name"], parameter["in"], parameter["required"]) == ("Idempotency-Key", "header", False)
    assert (parameter["schema"]["minLength"], parameter["schema"]["maxLength"]) == (1, 255)
    for route in routes.ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        refs = [p.get("$ref") for p in operation.get("parameters", [])]
        takes_key = route.method in ("POST", "PUT", "DELETE")
        assert ("#/components/parameters/IdempotencyKey" in refs) == takes_key, route.operation
        if takes_key:
            assert {"409", "422"} <= set(operation["responses"]), route.operation
            assert "Idempotent-Replayed" in operation["responses"][str(route.status)]["headers"], route.operation
