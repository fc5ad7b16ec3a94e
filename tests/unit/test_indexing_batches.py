"""How a batch of stream changes becomes index writes, against an in-memory index (no I/O)."""

from shared.logic.indexing import apply_changes
from shared.repository.dynamo import serialize
from shared.search.ports import IndexWrites, SearchUnavailable


def image(record_id: str, version: int, title: str = "t") -> dict:
    return serialize({
        "PK": f"RECORD#account_1#{record_id}", "SK": "RECORD", "recordId": record_id, "accountId": "account_1",
        "kanbanId": "kanban_1", "title": title, "status": "new", "customFields": {}, "assignedUserIds": [],
        "createdAt": 1, "updatedAt": version, "createdBy": "u", "updatedBy": "u", "version": version,
        "searchValues": [],
    })


class MemoryIndex(IndexWrites):
    """The indexer's port, in memory: record id -> indexed version."""

    def __init__(self, refuse: set[str] = frozenset(), down: bool = False):
        self.documents: dict[str, int] = {}
        self.refuse, self.down = refuse, down

    def upsert(self, records):
        if self.down:
            raise SearchUnavailable("down")
        for record, _ in records:
            if record.record_id not in self.refuse:
                self.documents[record.record_id] = max(record.version, self.documents.get(record.record_id, 0))
        return [record.record_id for record, _ in records if record.record_id in self.refuse]

    def delete(self, records):
        for record in records:
            self.documents.pop(record.record_id, None)
        return []


def test_the_newest_version_of_each_record_is_written_whatever_the_order():
    index = MemoryIndex()
    changes = [("MODIFY", image("r1", 3), None), ("INSERT", image("r1", 1), None), ("MODIFY", image("r2", 2), None)]
    assert apply_changes(index, changes) == set()
    assert index.documents == {"r1": 3, "r2": 2}


def test_a_removal_wins_and_other_items_are_ignored():
    index = MemoryIndex()
    index.documents["r1"] = 1
    counter = serialize({"PK": "COUNTS#account_1#kanban_1", "SK": "COUNTS", "total": 1})
    changes = [("MODIFY", image("r1", 2), None), ("REMOVE", None, image("r1", 2)), ("MODIFY", counter, counter)]
    assert apply_changes(index, changes) == set()
    assert index.documents == {}


def test_a_refused_document_is_noted_for_repair_and_holds_nothing_back():
    index = MemoryIndex(refuse={"r2"})
    noted = []
    changes = [("INSERT", image("r1", 1), None), ("INSERT", image("r2", 1), None), ("MODIFY", image("r2", 2), None)]
    assert apply_changes(index, changes, noted.extend) == set()
    assert index.documents == {"r1": 1}
    assert [(record.record_id, record.version) for record in noted] == [("r2", 2)]


def test_an_unreachable_index_fails_every_record_change_of_the_batch():
    changes = [("INSERT", image("r1", 1), None), ("REMOVE", None, image("r2", 1))]
    assert apply_changes(MemoryIndex(down=True), changes) == {0, 1}
