"""How recorded changes are packed into transactions, and a history entry too large to keep both values
(no I/O)."""

from shared.models.domain import Record, RecordChange
from shared.repository import changes


def change(version: int, text: str = "x", record_id: str = "record_1_a") -> RecordChange:
    record = Record(record_id=record_id, account_id="account_1", kanban_id="kanban_1", title="T", status="new",
                    custom_fields={"f1": text}, assigned_user_ids=(), channel_id=None, created_at=1, updated_at=1,
                    created_by="u", updated_by="u", version=version)
    return RecordChange(account_id="account_1", record_id=record_id, kanban_id="kanban_1", action="updated",
                        version=version, at=1, by="u", changes={"customFields.f1": {"from": text, "to": text}},
                        record=record)


def test_a_transaction_holds_the_counter_and_at_most_49_changes():
    groups = changes.transaction_groups([change(v) for v in range(1, 121)])

    assert [len(g) for g in groups] == [49, 49, 22]
    assert [g.start for g in groups] == [0, 49, 98]


def test_large_changes_are_split_well_under_four_megabytes():
    large = [change(v, "x" * 150_000) for v in range(1, 31)]  # about 600 KB of JSON each

    groups = changes.transaction_groups(large)

    assert all(sum(changes.change_size(large[i]) for i in g) <= changes.MAX_TRANSACTION_JSON_BYTES for g in groups)
    assert sum(len(g) for g in groups) == 30 and len(groups) > 1


def test_a_history_entry_too_large_for_an_item_keeps_which_attributes_changed():
    item = changes._history_item(change(2, "x" * 200_000), now_ms=0)

    assert item["changes"] == {"customFields.f1": {"omitted": True}}
    assert changes._history_item(change(2, "small"), now_ms=0)["changes"]["customFields.f1"]["to"] == "small"
