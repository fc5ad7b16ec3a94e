"""Which stream changes mean which record change, and what `changes` holds (no I/O)."""

import pytest

from shared.logic.events import interpret
from shared.repository import dynamo, keys

PK = keys.record_pk("account_1", "record_1_a")


def image(sk=keys.RECORD_SK, version=1, **attributes):
    item = {"PK": PK, "SK": sk, "recordId": "record_1_a", "accountId": "account_1", "kanbanId": "kanban_1",
            "title": "Jane", "status": "new", "customFields": {"f1": "x"}, "assignedUserIds": [],
            "createdAt": 1000, "updatedAt": 1000 + version, "createdBy": "user_a", "updatedBy": "user_b",
            "version": version, **attributes}
    return dynamo.serialize(item)


def test_an_insert_at_version_one_is_a_creation_with_every_attribute_set():
    change = interpret("INSERT", image(), None)

    assert (change.action, change.version, change.at, change.by) == ("created", 1, 1000, "user_a")
    assert change.changes == {"title": {"from": None, "to": "Jane"}, "status": {"from": None, "to": "new"},
                              "customFields.f1": {"from": None, "to": "x"}}


def test_a_later_insert_is_a_restore_and_a_trash_insert_a_deletion():
    restored = interpret("INSERT", image(version=5), None)
    deleted = interpret("INSERT", image(keys.TRASH_SK, version=4, deletedAt=7, deletedBy="user_c"), None)

    assert (restored.action, restored.version, restored.at, restored.by, restored.changes) == (
        "restored", 5, 1005, "user_b", {})
    assert (deleted.action, deleted.version, deleted.at, deleted.by, deleted.changes) == (
        "deleted", 4, 7, "user_c", {})


def test_an_update_names_only_what_changed_and_a_status_change():
    change = interpret("MODIFY", image(version=2, status="won", customFields={"f2": 3}, assignedUserIds=["u"]),
                       image(version=1))

    assert change.action == "updated" and change.status_changed
    assert change.changes == {"status": {"from": "new", "to": "won"}, "assignedUserIds": {"from": [], "to": ["u"]},
                              "customFields.f1": {"from": "x", "to": None}, "customFields.f2": {"from": None, "to": 3}}
    assert not interpret("MODIFY", image(version=3, title="Jo"), image(version=2)).status_changed


@pytest.mark.parametrize(("event", "new", "old"), [
    ("REMOVE", None, image()),  # the trash item carries the deletion
    ("REMOVE", None, image(keys.TRASH_SK)),  # restored or purged
    ("MODIFY", image(version=3), image(version=2)),  # a version bump nobody can see (unique-value locks)
    ("MODIFY", image(version=2, title="Jo"), image(version=2, title="Jane")),
    ("INSERT", dynamo.serialize({"PK": PK, "SK": "ASSIGN#user_a", "recordId": "record_1_a"}), None),
    ("INSERT", dynamo.serialize({"PK": "COUNTS#account_1#kanban_1", "SK": "COUNTS", "total": 1}), None),
])
def test_changes_that_mean_nothing(event, new, old):
    assert interpret(event, new, old) is None
