"""Records: GET/POST /crm/records, GET/PUT/DELETE /crm/records/{recordId}."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from shared.http import Limit, NextToken, OptionalId, build_app, created, current_principal
from shared.logic import records
from shared.models.api import CreateRecordRequest, RecordResponse, UpdateRecordRequest

app = build_app()
logger = Logger(service="records")


@app.get("/crm/records")
def list_records(
    kanbanId: OptionalId = None,
    status: OptionalId = None,
    assignedUserId: OptionalId = None,
    limit: Limit = 20,
    nextToken: NextToken = None,
):
    return records.list_records(
        current_principal(app), kanban_id=kanbanId, status=status, assigned_user_id=assignedUserId,
        limit=limit, next_token=nextToken,
    )


@app.post("/crm/records")
def create_record(body: CreateRecordRequest, kanbanId: OptionalId = None):
    record, is_new = records.create_record(current_principal(app), kanbanId, body)
    response = RecordResponse.of(record).model_dump()
    return created(response) if is_new else response


@app.get("/crm/records/<recordId>")
def get_record(recordId: str):
    return RecordResponse.of(records.get_record(current_principal(app), recordId)).model_dump()


@app.put("/crm/records/<recordId>")
def update_record(recordId: str, body: UpdateRecordRequest):
    return RecordResponse.of(records.update_record(current_principal(app), recordId, body)).model_dump()


@app.delete("/crm/records/<recordId>")
def delete_record(recordId: str):
    records.delete_record(current_principal(app), recordId)
    return {"message": "CRM record deleted successfully"}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event, context):
    return app.resolve(event, context)
