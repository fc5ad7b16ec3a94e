"""Records: GET/POST /crm/records, POST /crm/records/batch, GET/PUT/DELETE /crm/records/{recordId},
POST /crm/records/{recordId}/restore."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from shared.conditional import IfMatch, IfNoneMatch, expected_versions, tagged
from shared.http import Limit, NextToken, OptionalId, StatusFilter, build_app, current_principal, error_result
from shared.logic import batches, records
from shared.models.api import (
    BatchRequest,
    BatchResponse,
    BatchResult,
    CreateRecordRequest,
    MessageResponse,
    RecordPage,
    RecordResponse,
    TrashPage,
    UpdateRecordRequest,
)

app = build_app()
logger = Logger(service="records")
Upsert = Annotated[bool, Query(description=(
    "Update the record the channelId, or else a value of a unique field, matches (200) instead of creating "
    "one (201); 409 if the body matches two records"
))]
Deleted = Annotated[bool, Query(description=(
    "List the trash instead: deleted records (with deletedAt and deletedBy), newest deletion first"
))]
Permanent = Annotated[bool, Query(description=(
    "Delete for good instead of moving to the trash (admins only; a record in the trash is purged from it)"
))]


@app.get("/crm/records")
def list_records(
    kanbanId: OptionalId = None,
    status: StatusFilter = None,
    assignedUserId: OptionalId = None,
    limit: Limit = 20,
    nextToken: NextToken = None,
    deleted: Deleted = False,
) -> RecordPage | TrashPage:
    listing = records.list_records(
        current_principal(app), kanban_id=kanbanId, status=status, assigned_user_id=assignedUserId,
        limit=limit, next_token=nextToken, deleted=deleted,
    )
    return (TrashPage if deleted else RecordPage).model_validate(listing)


@app.post("/crm/records")
def create_record(
    body: CreateRecordRequest, kanbanId: OptionalId = None, upsert: Upsert = False
) -> Response[RecordResponse]:
    record, is_new = records.create_record(current_principal(app), kanbanId, body, upsert)
    # A channelId that already has a record answers that record with 200 (updated by an upsert).
    return tagged(record, HTTPStatus.CREATED if is_new else HTTPStatus.OK)


@app.post("/crm/records/batch")
def batch_records(body: BatchRequest) -> BatchResponse:
    outcomes = batches.run(current_principal(app), body.operations)
    return BatchResponse(results=[_result(index, outcome) for index, outcome in enumerate(outcomes)])


def _result(index: int, outcome: batches.Outcome) -> BatchResult:
    """An operation's result, with the status and error body its single-record route would answer."""
    if outcome.error is None:
        return BatchResult(status=HTTPStatus.CREATED if outcome.created else HTTPStatus.OK, record=outcome.record)
    status, body = error_result(outcome.error, ("operations", index, "record"))
    return BatchResult(status=status, **body)


@app.get("/crm/records/<recordId>")
def get_record(recordId: str, if_none_match: IfNoneMatch = None) -> Response[RecordResponse]:
    return tagged(records.get_record(current_principal(app), recordId), if_none_match=if_none_match)


@app.put("/crm/records/<recordId>")
def update_record(recordId: str, body: UpdateRecordRequest, if_match: IfMatch = None) -> Response[RecordResponse]:
    return tagged(records.update_record(current_principal(app), recordId, body, expected_versions(if_match)))


@app.delete("/crm/records/<recordId>")
def delete_record(recordId: str, if_match: IfMatch = None, permanent: Permanent = False) -> MessageResponse:
    if permanent:
        records.purge_record(current_principal(app), recordId, expected_versions(if_match))
    else:
        records.delete_record(current_principal(app), recordId, expected_versions(if_match))
    return MessageResponse(message="CRM record deleted successfully")


@app.post("/crm/records/<recordId>/restore")
def restore_record(recordId: str) -> Response[RecordResponse]:
    return tagged(records.restore_record(current_principal(app), recordId))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
