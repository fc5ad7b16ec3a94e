"""The REST API: every route of the route table, behind the token authorizer and the usage plan,
with API Gateway's own errors in the documented format."""

import json

import pytest

from infra.api_construct import GATEWAY_RESPONSES, paths_by_group
from shared.errors import reason_phrase
from shared.routes import AUTHORIZER_CACHE_SECONDS, AUTHORIZER_HANDLER, ROUTE_GROUP_HANDLERS, ROUTES

from .helpers import function_id, integrated_function_id, methods_by_route, only, resources


def test_api_keys_come_from_the_authorizer(cfn):
    _, api = only(cfn, "AWS::ApiGateway::RestApi")

    assert api["Properties"]["ApiKeySourceType"] == "AUTHORIZER"


def test_token_authorizer_reads_the_authorization_header_and_caches(cfn):
    _, authorizer = only(cfn, "AWS::ApiGateway::Authorizer")
    properties = authorizer["Properties"]

    assert properties["Type"] == "TOKEN"
    assert properties["IdentitySource"] == "method.request.header.Authorization"
    assert properties["AuthorizerResultTtlInSeconds"] == AUTHORIZER_CACHE_SECONDS
    assert function_id(cfn, AUTHORIZER_HANDLER) in json.dumps(properties["AuthorizerUri"])


@pytest.mark.parametrize("route", [r for r in ROUTES if not r.public], ids=lambda r: f"{r.method} {r.path}")
def test_each_route_is_a_proxy_method_on_its_group_function(cfn, route):
    authorizer_id, _ = only(cfn, "AWS::ApiGateway::Authorizer")

    method = methods_by_route(cfn)[(route.method, route.path)]

    assert method["Integration"]["Type"] == "AWS_PROXY"
    assert integrated_function_id(method) == function_id(cfn, ROUTE_GROUP_HANDLERS[route.group])
    assert method["AuthorizationType"] == "CUSTOM"
    assert method["AuthorizerId"] == {"Ref": authorizer_id}
    assert method["ApiKeyRequired"] is True


def test_the_documentation_is_served_by_the_docs_function_without_a_token_or_api_key(cfn):
    public = [r for r in ROUTES if r.public]
    methods = methods_by_route(cfn)

    assert {(r.method, r.path) for r in public} == {("GET", "/openapi.json"), ("GET", "/docs")}
    for route in public:
        method = methods[(route.method, route.path)]
        assert integrated_function_id(method) == function_id(cfn, ROUTE_GROUP_HANDLERS["docs"])
        assert method["AuthorizationType"] == "NONE"
        assert not method.get("ApiKeyRequired")
        assert "AuthorizerId" not in method


def test_methods_are_the_routes_plus_any_and_options_on_each_path(cfn):
    expected = {(r.method, r.path) for r in ROUTES}
    expected |= {(method, path) for path in paths_by_group() for method in ("ANY", "OPTIONS")}

    assert set(methods_by_route(cfn)) == expected


def test_any_method_reaches_the_paths_group_function_with_the_same_guard(cfn):
    authorizer_id, _ = only(cfn, "AWS::ApiGateway::Authorizer")
    methods = methods_by_route(cfn)

    for path, group in paths_by_group().items():
        method = methods[("ANY", path)]
        assert integrated_function_id(method) == function_id(cfn, ROUTE_GROUP_HANDLERS[group])
        assert method["AuthorizerId"] == {"Ref": authorizer_id}
        assert method["ApiKeyRequired"] is True


def test_every_method_but_preflight_and_the_documentation_uses_the_authorizer(cfn):
    authorizer_id, _ = only(cfn, "AWS::ApiGateway::Authorizer")

    public = {(r.method, r.path) for r in ROUTES if r.public}
    for (http_method, path), method in methods_by_route(cfn).items():
        if http_method == "OPTIONS" or (http_method, path) in public:
            assert method["AuthorizationType"] == "NONE", path
            assert not method.get("ApiKeyRequired"), path
        else:
            assert method.get("AuthorizerId") == {"Ref": authorizer_id}, (http_method, path)


def test_usage_plan_is_a_coarse_per_second_and_daily_guard(cfn):
    _, plan = only(cfn, "AWS::ApiGateway::UsagePlan")
    properties = plan["Properties"]
    stage_id, _ = only(cfn, "AWS::ApiGateway::Stage")

    assert properties["Throttle"] == {"RateLimit": 20, "BurstLimit": 40}
    assert properties["Quota"]["Period"] == "DAY"
    # Well above the documented 3,000 requests per hour the API itself enforces.
    assert properties["Quota"]["Limit"] >= 24 * 3000
    assert [s["Stage"] for s in properties["ApiStages"]] == [{"Ref": stage_id}]


def test_stage_logs_traces_and_measures(cfn):
    _, stage = only(cfn, "AWS::ApiGateway::Stage")
    properties = stage["Properties"]

    assert properties["TracingEnabled"] is True
    assert properties["AccessLogSetting"]["DestinationArn"]
    json.loads(properties["AccessLogSetting"]["Format"])
    assert properties["MethodSettings"] == [
        {"DataTraceEnabled": False, "HttpMethod": "*", "LoggingLevel": "ERROR", "MetricsEnabled": True,
         "ResourcePath": "/*"}
    ]


def _gateway_responses(cfn):
    found = resources(cfn, "AWS::ApiGateway::GatewayResponse").values()
    return {r["Properties"]["ResponseType"]: r["Properties"] for r in found}


def _body(response, api_message="an API Gateway message"):
    template = response["ResponseTemplates"]["application/json"]
    return json.loads(template.replace("$context.error.messageString", json.dumps(api_message)))


def test_every_gateway_response_answers_json_in_the_documented_format(cfn):
    responses = _gateway_responses(cfn)

    assert set(responses) == set(GATEWAY_RESPONSES)
    for response_type, response in responses.items():
        status = int(response["StatusCode"])
        assert response["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
        body = _body(response)
        assert set(body) == {"error", "message"}, response_type
        assert body["error"] == reason_phrase(status), response_type
        assert body["message"], response_type


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("UNAUTHORIZED", 401),
        ("ACCESS_DENIED", 403),
        ("EXPIRED_TOKEN", 401),
        ("INVALID_API_KEY", 403),
        ("MISSING_AUTHENTICATION_TOKEN", 404),
        ("AUTHORIZER_FAILURE", 500),
        ("AUTHORIZER_CONFIGURATION_ERROR", 500),
        ("DEFAULT_4XX", 400),
        ("DEFAULT_5XX", 500),
    ],
)
def test_gateway_response_status(cfn, response_type, status):
    assert _gateway_responses(cfn)[response_type]["StatusCode"] == str(status)


@pytest.mark.parametrize("response_type", ["THROTTLED", "QUOTA_EXCEEDED"])
def test_rate_limiting_answers_403_like_the_api(cfn, response_type):
    response = _gateway_responses(cfn)[response_type]

    body = _body(response)

    assert response["StatusCode"] == "403"
    assert body["error"] == "Forbidden"
    assert body["message"].startswith("Rate limit exceeded")


def test_unknown_routes_answer_404(cfn):
    body = _body(_gateway_responses(cfn)["MISSING_AUTHENTICATION_TOKEN"])

    assert body["error"] == "Not Found"


def test_client_errors_pass_api_gateways_message_through(cfn):
    assert _body(_gateway_responses(cfn)["DEFAULT_4XX"], "some reason")["message"] == "some reason"


def test_server_errors_name_the_request_id(cfn):
    for response_type, response in _gateway_responses(cfn).items():
        if int(response["StatusCode"]) >= 500:
            assert _body(response)["message"].endswith(" (request id $context.requestId)"), response_type


def test_request_bodies_reach_the_functions_byte_for_byte(cfn):
    [api] = [r["Properties"] for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]

    assert api["BinaryMediaTypes"] == ["*/*"]


def test_outputs_name_the_url_table_and_usage_plan(cfn):
    assert {"ApiUrl", "TableName", "UsagePlanId"} <= set(cfn["Outputs"])
