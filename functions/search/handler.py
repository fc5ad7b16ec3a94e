"""Search: GET /crm/search (full text and exact field-value lookups), GET /crm/search/aggregations."""

from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from shared.http import TOTAL_IS_CAPPED, OptionalId, StatusFilter, build_app, current_principal
from shared.logic import search
from shared.models.api import AggregationsResponse, SearchResponse

app = build_app()
logger = Logger(service="search")


@app.get("/crm/search")
def search_records(
    q: Annotated[str | None, Query(max_length=200, description="Full-text query")] = None,
    kanbanId: OptionalId = None,
    status: StatusFilter = None,
    page: Annotated[int, Query(ge=1, le=1000, description="Page number")] = 1,
    pageSize: Annotated[int, Query(ge=1, le=100, description="Records per page")] = 20,
    customFieldId: Annotated[
        str | None, Query(max_length=200, description="A custom field's id; only together with customFieldValue")
    ] = None,
    customFieldValue: Annotated[str | None, Query(
        max_length=1000, description="The exact value of customFieldId (ignoring case); only together with it",
    )] = None,
) -> Response[SearchResponse]:
    results = search.search_records(
        current_principal(app), q=q, kanban_id=kanbanId, status=status, page=page, page_size=pageSize,
        custom_field_id=customFieldId, custom_field_value=customFieldValue,
    )
    headers = {TOTAL_IS_CAPPED: "true"} if results.total_is_capped else {}
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=results, headers=headers)


@app.get("/crm/search/aggregations")
def aggregations(kanbanId: OptionalId = None) -> AggregationsResponse:
    return search.aggregations(current_principal(app), kanbanId)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
