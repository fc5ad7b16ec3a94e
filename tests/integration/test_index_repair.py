"""The search index never silently loses documents: writes survive a Typesense restart, drift between
the table and the index is found and repaired, and a document the engine refuses holds nothing back."""

import json
import os

import boto3
import pytest

from shared.admin_cli import main as crm_admin
from shared.local.typesense import TypesenseServer, free_port
from shared.models.domain import Record
from shared.repository import index_verification
from shared.repository.keys import record_pk
from shared.search.index import document_id, index_writer

from .conftest import stream_of, use_typesense


def search_total(api, **query) -> int:
    response = api.get("/crm/search", query=query)
    assert response.status == 200, response.body
    return response.json()["total"]


def verify_index(capsys, *options: str) -> dict:
    assert crm_admin(["verify-index", "--table-name", "crm-test", "--collection", index_writer().alias,
                      *options]) == 0
    return json.loads(capsys.readouterr().out)


def test_documents_written_by_the_indexer_survive_typesense_restarts(api, table, tmp_path, monkeypatch):
    """Typesense 0.24 loses documents written through an alias on some restarts and not others, so
    this writes and restarts a few times, checking every document each time."""
    server = TypesenseServer(tmp_path / "typesense", free_port(), "restart-admin-key").start()
    try:
        server.create_search_key()
        use_typesense(server, monkeypatch)
        stream = stream_of(table)
        for restart in range(1, 4):
            for i in range(10):
                assert api.post("/crm/records", {"title": f"Durable deal {restart}-{i}"}).status == 201
            stream.drain()
            assert search_total(api) == 10 * restart

            server.stop()
            server.start(fresh=False)

            assert search_total(api) == 10 * restart
            assert search_total(api, q="durable") == 10 * restart
    finally:
        server.stop()


def test_verify_index_finds_and_repairs_missing_stale_and_orphaned_documents(api, account, stream, capsys):
    made = [api.post("/crm/records", {"title": f"Acme deal {i}"}).json()["recordId"] for i in range(3)]
    stream.drain()
    index = index_writer()
    account_id = account["accountId"]
    # Behind the indexer's back: a document deleted, a change never indexed, a document with no record.
    index.client.collections[index.current_collection()].documents[document_id(account_id, made[0])].delete()
    assert api.put(f"/crm/records/{made[1]}", {"title": "Acme renewal"}).status == 200
    ghost = Record(record_id="record_1704067200000_ghost1", account_id=account_id, kanban_id="kanban_1",
                   title="Acme ghost", status="new", custom_fields={}, assigned_user_ids=(), channel_id=None,
                   created_at=1704067200000, updated_at=1704067200000, created_by="u", updated_by="u", version=1)
    assert index.upsert([(ghost, [])]) == []

    found = verify_index(capsys)

    assert found == {"repaired": False, "accounts": [{
        "accountId": account_id, "missingFromIndex": [made[0]], "staleInIndex": [made[1]],
        "notInTable": [ghost.record_id], "refusedByIndex": [],
    }]}
    assert search_total(api, q="renewal") == 0

    repaired = verify_index(capsys, "--account-id", account_id, "--repair")

    assert repaired["repaired"] is True
    assert repaired["accounts"][0]["missingFromIndex"] == [made[0]]
    assert verify_index(capsys)["accounts"][0] | {"accountId": ""} == {
        "accountId": "", "missingFromIndex": [], "staleInIndex": [], "notInTable": [], "refusedByIndex": []}
    assert sorted(i["recordId"] for i in api.get("/crm/search", query={"q": "acme"}).json()["items"]) == sorted(made)
    assert search_total(api, q="renewal") == 1


def _set_created_at(account_id: str, record_id: str, created_at: int) -> None:
    """A change written straight to the table (a new version), as if by a client with a bug."""
    boto3.client("dynamodb").update_item(
        TableName="crm-test", Key={"PK": {"S": record_pk(account_id, record_id)}, "SK": {"S": "RECORD"}},
        UpdateExpression="SET createdAt = :c ADD version :one",
        ExpressionAttributeValues={":c": {"N": str(created_at)}, ":one": {"N": "1"}},
    )


def test_a_refused_document_holds_back_nothing_and_is_kept_for_repair(api, account, stream, capsys):
    account_id = account["accountId"]
    refused = api.post("/crm/records", {"title": "Overflow deal"}).json()["recordId"]
    stream.drain()
    # Typesense refuses a createdAt beyond int64; the changes after it in the shard must still be indexed.
    _set_created_at(account_id, refused, 2**64)
    same_batch = api.post("/crm/records", {"title": "Follower deal"}).json()["recordId"]

    stream.drain()

    assert [i["recordId"] for i in api.get("/crm/search", query={"q": "follower"}).json()["items"]] == [same_batch]
    assert index_verification.refused_page(account_id, None, 10)[0] == [refused]
    next_batch = api.post("/crm/records", {"title": "Later deal"}).json()["recordId"]
    stream.drain()
    assert [i["recordId"] for i in api.get("/crm/search", query={"q": "later"}).json()["items"]] == [next_batch]

    # The repair offers it again and keeps the note while the engine still refuses it...
    assert verify_index(capsys, "--repair")["accounts"][0]["refusedByIndex"] == [refused]
    assert index_verification.refused_page(account_id, None, 10)[0] == [refused]
    # ...and once the record can be indexed, repairs it and clears the note (the stream not drained).
    _set_created_at(account_id, refused, 1704067200000)
    assert verify_index(capsys, "--repair")["accounts"][0]["refusedByIndex"] == []
    assert index_verification.refused_page(account_id, None, 10)[0] == []
    assert index_writer().indexed_versions(account_id, [refused]) == {refused: 3}


def test_crm_admin_finds_the_local_typesense_by_its_port(api, stream, typesense_server, monkeypatch, capsys):
    if not isinstance(typesense_server, TypesenseServer):
        pytest.skip("the tests use a Typesense of their own (TYPESENSE_URL), not one on a local port")
    nodes = os.environ["TYPESENSE_NODES"]
    monkeypatch.delenv("TYPESENSE_NODES")
    monkeypatch.delenv("TYPESENSE_URL", raising=False)
    monkeypatch.setenv("TYPESENSE_PORT", str(typesense_server.port))
    api.post("/crm/records", {"title": "Port deal"})

    assert crm_admin(["reindex", "--table-name", "crm-test", "--collection", index_writer().alias]) == 0

    assert "TYPESENSE_NODES" not in os.environ  # the CLI found the port without writing the environment
    monkeypatch.setenv("TYPESENSE_NODES", nodes)  # the API's own setting, for its search
    assert search_total(api, q="port") == 1


def test_the_scheduled_verifier_stops_when_its_time_is_up_and_the_next_run_resumes(api, account, stream,
                                                                                     monkeypatch):
    from shared.local.gateway import invoke_handler
    from shared.logic.admin import bootstrap_account
    from shared.logic.index_verification import repair_all
    from shared.routes import VERIFIER_HANDLER

    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "CrmRecordsApi")  # as the deployed function has it
    other = bootstrap_account("Other Inc", "Olga", "olga@example.com")
    lost = [api.post("/crm/records", {"title": "Lost deal"}).json()["recordId"],
            api.as_token(other["token"]).post("/crm/records", {"title": "Lost deal"}).json()["recordId"]]
    stream.drain()
    index = index_writer()
    for account_id, record_id in zip([account["accountId"], other["accountId"]], lost, strict=True):
        index.client.collections[index.current_collection()].documents[document_id(account_id, record_id)].delete()

    first = repair_all(index, has_time=lambda: False)  # out of time after its first page

    assert first.finished is False and first.differences == 0  # the first page: the refused-changes notes
    assert index_verification.verifier_cursor() is not None
    result = invoke_handler(VERIFIER_HANDLER, {})
    assert result == {"differences": 2, "refused": 0, "finished": True}
    assert index_verification.verifier_cursor() is None
    assert search_total(api, q="lost") == 1
    assert search_total(api.as_token(other["token"]), q="lost") == 1
