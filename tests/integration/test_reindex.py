"""`crm-admin reindex`: a rebuild into a new collection, switched in behind the alias."""

import pytest

from shared.admin_cli import main as crm_admin
from shared.logic.indexing import rebuild
from shared.search.index import SearchFilter, document_id, index_writer, search_reader


@pytest.fixture
def indexed(api, account, stream):
    made = [api.post("/crm/records", {"title": f"Acme deal {i}"}).json()["recordId"] for i in range(5)]
    stream.drain()
    return made


def found(api, q: str) -> list[str]:
    return [i["recordId"] for i in api.get("/crm/search", query={"q": q}).json()["items"]]


def test_reindex_rebuilds_switches_the_alias_and_drops_the_old_collection(api, account, indexed, capsys,
                                                                          monkeypatch):
    index = index_writer()
    before = index.current_collection()
    # The index lost a record and still holds one whose record is gone: a rebuild repairs both.
    index.client.collections[before].documents[document_id(account["accountId"], indexed[0])].delete()
    api.delete(f"/crm/records/{indexed[1]}")  # the stream is not drained: its document stays
    assert indexed[0] not in found(api, "acme")

    exit_code = crm_admin(["reindex", "--table-name", "crm-test", "--collection", index.alias])

    output = capsys.readouterr()
    assert exit_code == 0 and "100%" in output.err
    after = index_writer().current_collection()
    assert after != before
    assert before not in [c["name"] for c in index_writer().client.collections.retrieve()]
    assert sorted(found(api, "acme")) == sorted(r for r in indexed if r != indexed[1])
    total = index_writer().client.collections[after].retrieve()["num_documents"]
    assert total == 4


def test_records_written_and_deleted_during_a_rebuild_leave_no_document_behind(api, account, indexed, stream,
                                                                              monkeypatch):
    """A record created once the rebuild began, copied into the new collection and deleted before the
    alias switches: its removal goes to the old collection, so the rebuild itself must notice."""
    index = index_writer()
    create_collection = index.create_collection
    late: list[str] = []

    def create_and_let_a_user_write(name: str) -> None:
        create_collection(name)
        late.append(api.post("/crm/records", {"title": "Acme late deal"}).json()["recordId"])

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "copy" and len(late) == 1:
            api.delete(f"/crm/records/{late[0]}")
            stream.drain()
            late.append("deleted")

    monkeypatch.setattr(index, "create_collection", create_and_let_a_user_write)
    result = rebuild(index, progress)

    assert late[1:] == ["deleted"] and result["removedStale"] == 1
    assert {record_id for _, _, record_id in index.documents(result["collection"])} == set(indexed)
    assert api.get("/crm/search", query={"q": "acme"}).json()["total"] == 5


def test_large_batches_index_and_delete_in_one_call(account, search_settings):
    """Hundreds of records per call: the index's id lists must not outgrow Typesense's request limits."""
    from shared.models.domain import Record

    records = [
        (Record(record_id=f"record_1795660000000_{i:09d}", account_id=account["accountId"], kanban_id="kanban_1",
                title=f"Bulk {i}", status="new", custom_fields={}, assigned_user_ids=(), channel_id=None,
                created_at=1795660000000 + i, updated_at=1795660000000 + i, created_by="u", updated_by="u",
                version=1), [f"bulk{i}@example.com"])
        for i in range(300)
    ]
    index = index_writer()
    assert index.upsert(records) == []
    # The same versions again, retitled: the version guard reads all 300 back and writes none of them.
    assert index.upsert([(r.model_copy(update={"title": "Retitled"}), v) for r, v in records]) == []
    where = SearchFilter(account["accountId"], None, None)
    reader = search_reader()
    assert reader.search("retitled", where, 1, 10).found == 0 and reader.search("bulk", where, 1, 10).found == 300
    collection = index.current_collection()
    assert index.client.collections[collection].retrieve()["num_documents"] == 300

    index.delete([record for record, _ in records[:150]])

    assert len(index.documents(collection)) == 150
    index.delete_documents(collection, [doc_id for doc_id, _, _ in index.documents(collection)])
    assert index.documents(collection) == []
