"""Changes: GET /crm/records/{recordId}/history, GET /crm/changes (the change feed)."""

from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from shared.http import NextToken, OptionalId, build_app, current_principal
from shared.logic import changes
from shared.models.api import ChangeFeedResponse, HistoryPage

app = build_app()
logger = Logger(service="changes")
HistoryLimit = Annotated[int, Query(ge=1, le=100, description="Entries per page (1-100)")]
FeedLimit = Annotated[int, Query(ge=1, le=100, description="Changes per answer at most (1-100)")]
Since = Annotated[str | None, Query(max_length=4096, description=(
    "nextToken of an earlier answer: the changes after it; omitted, from the oldest change kept (30 days)"
))]


@app.get("/crm/records/<recordId>/history")
def record_history(recordId: str, limit: HistoryLimit = 20, nextToken: NextToken = None) -> HistoryPage:
    return changes.history(current_principal(app), recordId, limit, nextToken)


@app.get("/crm/changes")
def list_changes(since: Since = None, kanbanId: OptionalId = None, limit: FeedLimit = 50) -> ChangeFeedResponse:
    return changes.list_changes(current_principal(app), since, kanbanId, limit)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
