"""API Gateway REST proxy events of the real shape, for the local gateway and the tests."""

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from shared import routes

STAGE = "local"
API_ID = "localapi"
AWS_ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class LambdaContext:
    """What a Lambda runtime passes as `context`, as far as Powertools reads it."""

    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{AWS_ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def method_arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:{REGION}:{AWS_ACCOUNT}:{API_ID}/{STAGE}/{method}{path}"


def token_authorizer_event(authorization: str, method: str, path: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn(method, path)}


def proxy_event(
    method: str,
    path: str,
    *,
    query_string: str = "",
    headers: dict[str, str] | None = None,
    body: str | bytes | dict[str, Any] | None = None,
    authorizer: dict[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The event API Gateway sends a proxy integration for one request (REST API, payload 1.0)."""
    headers = dict(headers or {})
    found = routes.match(method, path)
    resource = found.route.path if found and found.route else path
    query = parse_qs(query_string, keep_blank_values=True) if query_string else {}
    if isinstance(body, dict):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    now = time.time()
    request_id = str(uuid.uuid4())
    context: dict[str, Any] = {
        "accountId": AWS_ACCOUNT,
        "apiId": API_ID,
        "domainName": "127.0.0.1",
        "httpMethod": method,
        "path": f"/{STAGE}{path}",
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "requestTimeEpoch": int(now * 1000),
        "resourceId": "local",
        "resourcePath": resource,
        "stage": STAGE,
        "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent")},
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": (found.path_parameters if found else None) or None,
        "stageVariables": None,
        "requestContext": context,
        # The API's binary media type is */*, so API Gateway hands every body over base64-encoded,
        # byte for byte as the client sent it.
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def authorizer_context(policy: dict[str, Any]) -> dict[str, Any]:
    """What API Gateway puts in requestContext.authorizer from an authorizer's result."""
    return {**policy.get("context", {}), "principalId": policy["principalId"], "integrationLatency": 0}
