"""One retry layer for DynamoDB (shared.repository.retries): the worst case of a request, pinned by
counting every attempt the client sends to a table that keeps refusing."""

from collections.abc import Callable

import pytest
from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException, TransactionCanceledException
from moto.dynamodb.responses import DynamoHandler

from shared import request_budget
from shared.local.gateway import ApiGatewayEmulator, invoke_handler
from shared.repository import dynamo, retries
from shared.repository.table import StorageUnavailable, dynamodb_client
from tests.integration.conftest import Api

# The handler method of moto's DynamoDB for each operation a request may send.
OPERATIONS = {"BatchGetItem": "batch_get_item", "GetItem": "get_item", "Query": "query",
              "UpdateItem": "update_item", "TransactWriteItems": "transact_write_items"}


def throttled() -> Exception:
    return DynamodbException(ERROR_TYPE_PREFIX + "ProvisionedThroughputExceededException",
                             "The level of configured provisioned throughput for the table was exceeded.")


def in_conflict() -> Exception:
    return TransactionCanceledException([("TransactionConflict", "Transaction is ongoing for the item", None)])


def version_changed() -> Exception:
    # The first write of a record update is the record itself, on the condition of its version.
    return TransactionCanceledException([("ConditionalCheckFailed", "The conditional request failed", None)])


class ScriptedTable:
    """moto's table, except that it answers `refusal(operation)` when that is an error; `sent` lists
    every attempt the client sent, resends included."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, refusal: Callable[[str], Exception | None]):
        self.sent: list[str] = []
        dynamodb_client().meta.events.register("before-send.dynamodb", self._count)
        for operation, method in OPERATIONS.items():
            monkeypatch.setattr(DynamoHandler, method, self._scripted(operation, getattr(DynamoHandler, method),
                                                                      refusal))

    def _count(self, event_name: str, **_) -> None:
        self.sent.append(event_name.rsplit(".", 1)[-1])  # before-send.dynamodb.<operation>

    @staticmethod
    def _scripted(operation: str, answer, refusal):
        def scripted(handler):
            error = refusal(operation)
            if error is not None:
                raise error
            return answer(handler)
        return scripted


@pytest.fixture
def warm(table, account) -> tuple[Api, dict]:
    """An API whose authorizer answer is cached (so only the function's calls are counted), and a record."""
    api = Api(ApiGatewayEmulator(invoke_handler, authorizer_cache_seconds=60), account["token"])
    record = api.post("/crm/records", {"title": "Lead"})
    assert record.status == 201, record.body
    return api, record.json()


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):
    """The pauses are jittered sleeps; the counts do not depend on them."""
    monkeypatch.setattr(retries, "_pause_seconds", lambda attempts: 0.0)


def test_the_bounds_are_small_and_explicit():
    assert (retries.ATTEMPTS_PER_CALL, retries.WRITE_ATTEMPTS, request_budget.RETRIES_PER_REQUEST) == (4, 16, 4)


def test_a_table_that_stays_throttled_costs_a_request_four_attempts_and_answers_503(warm, monkeypatch):
    api, record = warm
    table = ScriptedTable(monkeypatch, lambda operation: throttled())

    response = api.get(f"/crm/records/{record['recordId']}")

    assert response.status == 503
    assert int(response.headers["Retry-After"]) > 0
    # The caller's rights are the first read: its one call, attempted ATTEMPTS_PER_CALL times.
    assert table.sent == ["BatchGetItem"] * retries.ATTEMPTS_PER_CALL


def test_a_transaction_that_keeps_conflicting_is_attempted_four_times_and_answers_409(warm, monkeypatch):
    api, record = warm
    table = ScriptedTable(monkeypatch, lambda op: in_conflict() if op == "TransactWriteItems" else None)

    response = api.put(f"/crm/records/{record['recordId']}", {"title": "Renamed"})

    assert response.status == 409, response.body
    assert "retry" in response.json()["message"]
    # Rights, rate counter, the record with its entries (a title alone needs no kanban); then the
    # transaction, resent by the client only: the logic does not re-run a conflict the retry layer gave up on.
    assert table.sent == ["BatchGetItem", "UpdateItem", "Query", *["TransactWriteItems"] * retries.ATTEMPTS_PER_CALL]


def test_the_worst_case_of_an_update_is_one_pass_per_write_attempt_plus_the_requests_retries(warm, monkeypatch):
    """Every pass loses the version race, and the first attempt of each of the first
    RETRIES_PER_REQUEST calls is throttled:
    2 + 4 * WRITE_ATTEMPTS + RETRIES_PER_REQUEST calls (the bound of shared.repository.retries)."""
    api, record = warm
    answered = []

    def refusal(operation: str) -> Exception | None:
        answered.append(operation)
        if len(answered) % 2 == 1 and len(answered) < 2 * request_budget.RETRIES_PER_REQUEST:
            return throttled()  # the first attempt of each of the first calls
        return version_changed() if operation == "TransactWriteItems" else None

    table = ScriptedTable(monkeypatch, refusal)

    response = api.put(f"/crm/records/{record['recordId']}", {"title": "Renamed", "status": "contacted"})

    assert response.status == 409, response.body
    # A pass: the record with its entries, the kanban (a status to check), the transaction.
    one_pass = ["Query", "GetItem", "TransactWriteItems"]
    throttled_calls = ["BatchGetItem", "BatchGetItem", "UpdateItem", "UpdateItem", "Query", "Query",
                       "GetItem", "GetItem"]
    assert table.sent == [*throttled_calls[:2 * request_budget.RETRIES_PER_REQUEST], "TransactWriteItems",
                          *one_pass * (retries.WRITE_ATTEMPTS - 1)]
    assert len(table.sent) == 2 + len(one_pass) * retries.WRITE_ATTEMPTS + request_budget.RETRIES_PER_REQUEST == 54


def test_once_the_requests_retries_are_spent_a_busy_call_is_not_resent(warm, monkeypatch):
    api, record = warm
    table = ScriptedTable(monkeypatch, lambda op: throttled() if op != "BatchGetItem" else None)

    response = api.get(f"/crm/records/{record['recordId']}")

    assert response.status == 503
    # The rate counter takes ATTEMPTS_PER_CALL attempts; nothing after it starts.
    assert table.sent == ["BatchGetItem", *["UpdateItem"] * retries.ATTEMPTS_PER_CALL]


def test_unprocessed_keys_are_asked_for_again_within_the_same_bounds(table, monkeypatch):
    """A batch read DynamoDB only partly serves is resent like any other call, and a 503 if it stays so."""
    calls = []

    def nothing_processed(**request):
        calls.append(request)
        return {"Responses": {}, "UnprocessedKeys": request["RequestItems"]}

    monkeypatch.setattr(dynamodb_client(), "batch_get_item", nothing_processed)
    with request_budget.limited(), pytest.raises(StorageUnavailable):
        dynamo.batch_get([("A", "B")])
    assert len(calls) == retries.ATTEMPTS_PER_CALL


def test_outside_a_request_each_call_still_gets_at_most_four_attempts(table, monkeypatch):
    table_ = ScriptedTable(monkeypatch, lambda op: throttled())
    with pytest.raises(StorageUnavailable):
        dynamo.get("A", "B")
    assert table_.sent == ["GetItem"] * retries.ATTEMPTS_PER_CALL
