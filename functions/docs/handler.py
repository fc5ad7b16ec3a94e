"""The API's documentation, served without a token: GET /openapi.json and GET /docs (Swagger UI).

The document is generated from the functions' resolvers and models by `make openapi` and shipped
beside this module; the page's scripts and styles come from the Swagger UI copy inside Powertools,
so the page needs nothing from the internet.
"""

import json
from functools import cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html
from aws_lambda_powertools.logging import correlation_paths

from shared.http import build_app, to_json

DOCUMENT = Path(__file__).with_name("openapi.json")
SWAGGER_ASSETS = Path(swagger_ui.__file__).parent

app = build_app()
logger = Logger(service="docs")


@cache
def _document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


@cache
def _swagger_assets() -> tuple[str, str]:
    return ((SWAGGER_ASSETS / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
            (SWAGGER_ASSETS / "swagger-ui.min.css").read_text(encoding="utf-8"))


def _server_base() -> str:
    """The server this request reached: the stage's path when the API's own domain carries it
    (https://…/v1), the root otherwise (a custom domain, the local gateway)."""
    context = app.current_event.request_context
    stage = context.stage
    on_stage = ".execute-api." in str(context.domain_name) and context.path.startswith(f"/{stage}/")
    return f"/{stage}" if stage and on_stage else "/"


@cache
def _document_text(base: str) -> str:
    """The document with its server, serialized once per server for the life of the instance."""
    return to_json({**_document(), "servers": [{"url": base, "description": "This API"}]})


@cache
def _page(base: str) -> str:
    script, style = _swagger_assets()
    spec = _document_text(base).replace("</", "<\\/")
    html = generate_swagger_html(spec, script, style, "", None, persist_authorization=True)
    return html.replace("<title>Swagger UI</title>", "<title>CRM records API</title>")


@app.get("/openapi.json")
def openapi_document():
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_document_text(_server_base()))


@app.get("/docs")
def docs_page():
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=_page(_server_base()))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
