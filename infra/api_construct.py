"""The REST API: resources and methods from the route table, the token authorizer, the usage plan
and gateway responses that answer every API Gateway error in the documented error format."""

import json
from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge
from shared.errors import UNAUTHORIZED_MESSAGE, reason_phrase
from shared.routes import AUTHORIZER_CACHE_SECONDS, ROUTES

STAGE_NAME = "v1"
# The usage plan is the coarse outer guard; the documented per-minute and per-hour limits are the
# application's. Usage plans throttle per second and count quotas per day at most.
THROTTLE_RATE_PER_SECOND = 20
THROTTLE_BURST = 40
DAILY_QUOTA = 100_000
MESSAGE_FROM_API_GATEWAY = "$context.error.messageString"  # already a quoted JSON string

# Gateway response type -> (status, message). None: API Gateway's own message for the error (4xx only:
# every 5xx has a message of ours, which the template extends with the request id).
# Every type not listed answers through DEFAULT_4XX / DEFAULT_5XX.
GATEWAY_RESPONSES: dict[str, tuple[int, str | None]] = {
    "UNAUTHORIZED": (401, UNAUTHORIZED_MESSAGE),
    "EXPIRED_TOKEN": (401, None),
    "ACCESS_DENIED": (403, None),
    "INVALID_API_KEY": (403, "the account of this token has no active API key for this API"),
    "INVALID_SIGNATURE": (403, None),
    "WAF_FILTERED": (403, None),
    "THROTTLED": (403, "Rate limit exceeded: too many requests per second; retry shortly"),
    "QUOTA_EXCEEDED": (403, "Rate limit exceeded: the daily request quota of this account is used up"),
    "MISSING_AUTHENTICATION_TOKEN": (404, "no route matches this method and path"),
    "RESOURCE_NOT_FOUND": (404, None),
    "BAD_REQUEST_PARAMETERS": (400, None),
    "BAD_REQUEST_BODY": (400, None),
    "REQUEST_TOO_LARGE": (413, None),
    "UNSUPPORTED_MEDIA_TYPE": (415, None),
    "AUTHORIZER_FAILURE": (500, "the authorizer failed"),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, "the authorizer is misconfigured"),
    "API_CONFIGURATION_ERROR": (500, "the API is misconfigured"),
    "INTEGRATION_FAILURE": (502, "the function failed to answer"),
    "INTEGRATION_TIMEOUT": (504, "the function did not answer in time"),
    "DEFAULT_4XX": (400, None),
    "DEFAULT_5XX": (500, "the API failed to answer"),
}


def error_template(status: int, message: str | None) -> str:
    """The documented error body {"error": "<reason phrase>", "message": "..."} as a gateway template;
    server-side failures name the request id, as the functions' own 5xx answers do."""
    if message is None:
        text = MESSAGE_FROM_API_GATEWAY
    else:
        text = json.dumps(f"{message} (request id $context.requestId)" if status >= 500 else message)
    return f'{{"error":{json.dumps(reason_phrase(status))},"message":{text}}}'


def paths_by_group(routes=ROUTES) -> dict[str, str]:
    """Each resource path and the one route group that serves every method on it."""
    groups: dict[str, str] = {}
    for route in routes:
        if groups.setdefault(route.path, route.group) != route.group:
            raise ValueError(f"{route.path} is served by two groups: {groups[route.path]} and {route.group}")
    return groups


class ApiConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        route_group_functions: Mapping[str, lambda_.IFunction],
        authorizer_function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.ONE_YEAR)
        self.api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name="crm-records-api",
            description="CRM records API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Every request body reaches the functions base64-encoded, byte for byte: they read it as
            # strict UTF-8, so invalid bytes are a 400 instead of being replaced and stored.
            binary_media_types=["*/*"],
            # Each account's API key comes from the authorizer (usageIdentifierKey), not a header.
            api_key_source_type=apigw.ApiKeySourceType.AUTHORIZER,
            # API Gateway needs an account-wide role to write logs; keep it if the stack goes.
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=_access_log_format(),
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                metrics_enabled=True,
                tracing_enabled=True,
            ),
        )
        self.authorizer = apigw.TokenAuthorizer(
            self,
            "TokenAuthorizer",
            handler=authorizer_function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )
        self._add_routes(route_group_functions)
        for response_type, (status, message) in GATEWAY_RESPONSES.items():
            self.api.add_gateway_response(
                f"{response_type.title().replace('_', '')}Response",
                type=apigw.ResponseType.of(response_type),
                status_code=str(status),
                response_headers={"Content-Type": "'application/json'", "Access-Control-Allow-Origin": "'*'"},
                templates={"application/json": error_template(status, message)},
            )
        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            name="crm-records-api",
            description="Outer guard for every account's API key; the per-minute and per-hour limits are the API's.",
            throttle=apigw.ThrottleSettings(rate_limit=THROTTLE_RATE_PER_SECOND, burst_limit=THROTTLE_BURST),
            quota=apigw.QuotaSettings(limit=DAILY_QUOTA, period=apigw.Period.DAY),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
        )
        acknowledge(
            self.api, "AwsSolutions-APIG2",
            "Each function validates its parameters and bodies against its models and answers 400 documented errors.",
        )
        acknowledge(
            self.api, "AwsSolutions-APIG3",
            "Abuse is bounded by the token authorizer, the usage plan and per-account rate limits; a WAF is optional.",
        )
        acknowledge(
            self.api, "AwsSolutions-COG4",
            "Callers authenticate with the API's own bearer tokens through the Lambda token authorizer, not Cognito.",
        )
        acknowledge(
            self.api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "This is the AWS-managed policy made for API Gateway's account-wide logging role.",
        )

    def _add_routes(self, functions: Mapping[str, lambda_.IFunction]) -> None:
        integrations: dict[str, apigw.LambdaIntegration] = {}

        def integration(group: str) -> apigw.LambdaIntegration:
            if group not in functions:
                raise KeyError(f"route group {group!r} has no function; add it to ROUTE_GROUP_HANDLERS")
            if group not in integrations:
                integrations[group] = apigw.LambdaIntegration(functions[group], allow_test_invoke=False)
            return integrations[group]

        authorized = dict(
            authorizer=self.authorizer, authorization_type=apigw.AuthorizationType.CUSTOM, api_key_required=True
        )
        public = dict(authorization_type=apigw.AuthorizationType.NONE, api_key_required=False)
        for route in ROUTES:
            method = self.api.root.resource_for_path(route.path).add_method(
                route.method, integration(route.group), **(public if route.public else authorized)
            )
            if route.public:
                acknowledge(method, "AwsSolutions-APIG4",
                            "The API's documentation (OpenAPI document and docs page) is public by design.")
                acknowledge(method, "AwsSolutions-COG4",
                            "The API's documentation (OpenAPI document and docs page) is public by design.")
        for path, group in paths_by_group().items():
            resource = self.api.root.resource_for_path(path)
            # Any other method reaches the function too, which answers 405 with the Allow header;
            # API Gateway prefers a path's specific methods over ANY.
            resource.add_method("ANY", integration(group), **authorized)
            # CORS preflight carries no token: the function answers it, as in the local gateway.
            preflight = resource.add_method(
                "OPTIONS", integration(group), authorization_type=apigw.AuthorizationType.NONE, api_key_required=False
            )
            acknowledge(
                preflight, "AwsSolutions-APIG4",
                "Browsers send CORS preflight requests without credentials, so OPTIONS cannot require authorization.",
            )


def _access_log_format() -> apigw.AccessLogFormat:
    fields = {
        "requestId": "$context.requestId",
        "time": "$context.requestTimeEpoch",
        "ip": "$context.identity.sourceIp",
        "method": "$context.httpMethod",
        "resource": "$context.resourcePath",
        "path": "$context.path",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integration.latency",
        "accountId": "$context.authorizer.accountId",
        "userId": "$context.authorizer.principalId",
        "errorType": "$context.error.responseType",
        "error": "$context.error.message",
        "xrayTraceId": "$context.xrayTraceId",
    }
    return apigw.AccessLogFormat.custom(json.dumps(fields))
