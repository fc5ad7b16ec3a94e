"""Kanbans: GET/POST /kanbans, GET/PUT/DELETE /kanbans/{kanbanId}."""

from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

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
def create_kanban(body: CreateKanbanRequest) -> KanbanResponse:
    return kanbans.create_kanban(current_principal(app), body)


@app.get("/kanbans/<kanbanId>")
def get_kanban(kanbanId: str) -> KanbanResponse:
    return kanbans.get_kanban(current_principal(app), kanbanId)


@app.put("/kanbans/<kanbanId>")
def update_kanban(kanbanId: str, body: UpdateKanbanRequest) -> KanbanResponse:
    return kanbans.update_kanban(current_principal(app), kanbanId, body)


@app.delete("/kanbans/<kanbanId>")
def delete_kanban(kanbanId: str) -> MessageResponse:
    kanbans.delete_kanban(current_principal(app), kanbanId)
    return MessageResponse(message="Kanban deleted successfully")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
