"""Kanbans: GET/POST /kanbans, GET/PUT/DELETE /kanbans/{kanbanId}."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from shared.conditional import IfMatch, IfNoneMatch, expected_versions, tagged
from shared.http import Limit, NextToken, build_app, current_principal
from shared.logic import kanbans
from shared.models.api import CreateKanbanRequest, KanbanPage, KanbanResponse, MessageResponse, UpdateKanbanRequest

app = build_app()
logger = Logger(service="kanbans")


@app.get("/kanbans")
def list_kanbans(
    limit: Limit = 20,
    nextToken: NextToken = None,
    accessible: Annotated[bool, Query(description="Only kanbans the caller has access to")] = False,
) -> KanbanPage:
    return kanbans.list_kanbans(current_principal(app), accessible, limit, nextToken)


@app.post("/kanbans")
def create_kanban(body: CreateKanbanRequest) -> Response[KanbanResponse]:
    return tagged(kanbans.create_kanban(current_principal(app), body), HTTPStatus.CREATED)


@app.get("/kanbans/<kanbanId>")
def get_kanban(kanbanId: str, if_none_match: IfNoneMatch = None) -> Response[KanbanResponse]:
    return tagged(kanbans.get_kanban(current_principal(app), kanbanId), if_none_match=if_none_match)


@app.put("/kanbans/<kanbanId>")
def update_kanban(kanbanId: str, body: UpdateKanbanRequest, if_match: IfMatch = None) -> Response[KanbanResponse]:
    return tagged(kanbans.update_kanban(current_principal(app), kanbanId, body, expected_versions(if_match)))


@app.delete("/kanbans/<kanbanId>")
def delete_kanban(kanbanId: str, if_match: IfMatch = None) -> MessageResponse:
    kanbans.delete_kanban(current_principal(app), kanbanId, expected_versions(if_match))
    return MessageResponse(message="Kanban deleted successfully")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
