"""Field and status definitions: GET /crm/fields, GET /crm/statuses."""

from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from shared.http import OptionalId, build_app, current_principal
from shared.logic import kanbans
from shared.models.api import FieldsResponse, StatusesResponse

app = build_app()
logger = Logger(service="meta")


@app.get("/crm/fields")
def field_definitions(
    kanbanId: OptionalId = None,
    all: Annotated[  # noqa: A002
        bool, Query(description="Fields of every kanban the caller can use; not together with kanbanId")
    ] = False,
) -> FieldsResponse:
    return {"fields": kanbans.field_definitions(current_principal(app), kanbanId, all)}


@app.get("/crm/statuses")
def status_definitions(kanbanId: OptionalId = None) -> StatusesResponse:
    return {"statuses": kanbans.status_definitions(current_principal(app), kanbanId)}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
