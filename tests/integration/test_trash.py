"""The trash through the real handlers: DELETE moves a record to the trash, GET /crm/records?deleted=true
lists it, POST /crm/records/{id}/restore brings it back, DELETE ?permanent=true purges it."""

import time
from typing import Any

import boto3
import pytest

from shared.logic.admin import bootstrap_account
from shared.repository import keys
from shared.search.index import SearchFilter, search_reader
from tests.integration.conftest import create_member
from tests.integration.test_records import five_records

DAY_SECONDS = 86_400


def partition(table: str, account_id: str, record_id: str) -> dict[str, dict[str, Any]]:
    """The items of a record's partition, by sort key."""
    items = boto3.client("dynamodb").query(
        TableName=table, KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": keys.record_pk(account_id, record_id)}}, ConsistentRead=True,
    )["Items"]
    return {i["SK"]["S"]: i for i in items}


def stored(table: str) -> list[dict[str, Any]]:
    """Everything stored but the rate limiter's counters: for asserting that a refusal wrote nothing."""
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return sorted((i for i in items if not i["PK"]["S"].startswith(keys.PARTITION_PREFIXES["rate"])),
                  key=lambda i: (i["PK"]["S"], i["SK"]["S"]))


def ids(response) -> list[str]:
    assert response.status == 200, response.body
    return [item["recordId"] for item in response.json()["items"]]


def trash(api, **query) -> list[str]:
    return ids(api.get("/crm/records", query={"deleted": "true", **query}))


def counts(api, kanban_id: str) -> dict[str, int]:
    response = api.get("/crm/search/aggregations", query={"kanbanId": kanban_id})
    assert response.status == 200, response.body
    return {s["key"]: s["count"] for s in response.json()["status"]}


def lookup(api, field_id: str, value: str) -> list[str]:
    return ids(api.get("/crm/search", query={"customFieldId": field_id, "customFieldValue": value}))


def indexed(record: dict[str, Any]) -> list[str]:
    """The ids the search engine itself holds for the record's account (not re-read from the table)."""
    return search_reader().search(None, SearchFilter(record["accountId"], None, None), 1, 100).record_ids


def create(api, board: dict[str, Any], title: str, **body: Any) -> dict[str, Any]:
    response = api.post("/crm/records", {"title": title, **body}, query={"kanbanId": board["id"]})
    assert response.status == 201, response.body
    return response.json()


class TestDelete:
    def test_a_deleted_record_is_gone_from_reads_lists_lookups_counts_and_search(self, api, unique_board, account,
                                                                                 stream):
        email = unique_board["f"]["Email"]
        gone = create(api, unique_board, "Jane Zebrafish", customFields={email: "jane@example.com"},
                      assignedUserIds=[account["userId"]], channelId="chat-1")
        kept = create(api, unique_board, "Kept", assignedUserIds=[account["userId"]])
        stream.drain()
        assert ids(api.get("/crm/search", query={"q": "zebrafish"})) == [gone["recordId"]]
        assert gone["recordId"] in indexed(gone)
        assert counts(api, unique_board["id"])["new"] == 2

        response = api.delete(f"/crm/records/{gone['recordId']}")
        stream.drain()

        assert response.status == 200 and response.json() == {"message": "CRM record deleted successfully"}
        assert api.get(f"/crm/records/{gone['recordId']}").status == 404
        assert ids(api.get("/crm/records", query={"kanbanId": unique_board["id"]})) == [kept["recordId"]]
        assert ids(api.get("/crm/records", query={"assignedUserId": account["userId"]})) == [kept["recordId"]]
        assert lookup(api, email, "jane@example.com") == []
        assert counts(api, unique_board["id"])["new"] == 1
        assert ids(api.get("/crm/search", query={"q": "zebrafish"})) == []
        assert gone["recordId"] not in indexed(gone)
        assert kept["recordId"] in indexed(kept)
        assert api.put(f"/crm/records/{gone['recordId']}", {"title": "x"}).status == 404
        assert api.delete(f"/crm/records/{gone['recordId']}").status == 404

    def test_the_trash_item_holds_the_record_with_its_deletion_and_a_30_day_ttl(self, api, unique_board, account,
                                                                                table):
        email = unique_board["f"]["Email"]
        record = create(api, unique_board, "Lead", customFields={email: "jane@example.com"},
                        assignedUserIds=[account["userId"]], channelId="chat-1")
        before = partition(table, account["accountId"], record["recordId"])
        before_seconds = int(time.time())

        api.delete(f"/crm/records/{record['recordId']}")

        items = partition(table, account["accountId"], record["recordId"])
        assert set(items) == {keys.TRASH_SK, keys.trash_assignment_sk(account["userId"])}
        item = items[keys.TRASH_SK]
        live = before[keys.RECORD_SK]
        for name in ("recordId", "accountId", "kanbanId", "title", "status", "customFields", "assignedUserIds",
                     "channelId", "createdAt", "updatedAt", "createdBy", "updatedBy", "searchValues",
                     "uniqueValues"):
            assert item[name] == live[name], name
        assert int(item["version"]["N"]) == int(live["version"]["N"]) + 1
        assert item["deletedBy"]["S"] == account["userId"]
        deleted_at = int(item["deletedAt"]["N"])
        assert abs(deleted_at / 1000 - before_seconds) < 60
        assert int(item["expiresAt"]["N"]) == deleted_at // 1000 + 30 * DAY_SECONDS
        # Listed from the trash's partitions of the list indexes, by deletion; never from the live ones.
        live_partitions = {live[f"{i}PK"]["S"] for i in ("GSI1", "GSI2", "GSI3", "GSI4")}
        assert not live_partitions & {item[f"{i}PK"]["S"] for i in ("GSI1", "GSI2", "GSI3", "GSI4")}
        assert item["CREATED"]["S"] == keys.created_sort_key(deleted_at, record["recordId"])
        entry = items[keys.trash_assignment_sk(account["userId"])]
        assert int(entry["expiresAt"]["N"]) == int(item["expiresAt"]["N"])
        # The locks of its channelId and unique value are released; its counters are down.
        assert not [i for i in stored(table) if i["PK"]["S"].startswith(("CHANNEL#", "UNIQUE#"))]
        assert counts(api, unique_board["id"]) == {"new": 0, "contacted": 0, "qualified": 0, "closed": 0}

    def test_if_match_still_guards_the_delete(self, api):
        record = api.post("/crm/records", {"title": "Guarded"}).json()
        refused = api.delete(f"/crm/records/{record['recordId']}", headers={"If-Match": '"7"'})
        assert refused.status == 412 and trash(api) == []
        assert api.delete(f"/crm/records/{record['recordId']}", headers={"If-Match": '"1"'}).status == 200
        assert trash(api) == [record["recordId"]]

    def test_a_batch_delete_moves_the_record_to_the_trash(self, api, account):
        record = api.post("/crm/records", {"title": "Batched"}).json()

        response = api.post("/crm/records/batch", {"operations": [
            {"action": "delete", "recordId": record["recordId"]},
        ]})

        assert response.status == 200, response.body
        assert response.json()["results"][0]["status"] == 200
        assert api.get(f"/crm/records/{record['recordId']}").status == 404
        listed = api.get("/crm/records", query={"deleted": "true"}).json()["items"]
        assert [(r["recordId"], r["deletedBy"]) for r in listed] == [(record["recordId"], account["userId"])]
        assert api.post(f"/crm/records/{record['recordId']}/restore").status == 200


class TestTrashListing:
    @pytest.fixture
    def deleted(self, api, board, account):
        """Five records (r0..r4) as in the live lists' tests; r0, r3, r1 and r4 deleted in that order."""
        records = five_records(api, board, account)
        made = records["all"]
        for i in (0, 3, 1, 4):
            time.sleep(0.002)  # distinct deletion times
            assert api.delete(f"/crm/records/{made[i]['recordId']}").status == 200
        return {"made": made, "member": records["member"]}

    def titles(self, api, **query) -> list[str]:
        response = api.get("/crm/records", query={"deleted": "true", **query})
        assert response.status == 200, response.body
        return [r["title"] for r in response.json()["items"]]

    def test_newest_deletion_first_with_every_filter(self, api, board, account, deleted):
        admin, member = account["userId"], deleted["member"]["userId"]
        assert self.titles(api) == ["r4", "r1", "r3", "r0"]
        assert self.titles(api, kanbanId=board["id"]) == ["r4", "r1", "r0"]
        assert self.titles(api, status="new") == ["r4", "r0"]
        assert self.titles(api, kanbanId=board["id"], status="contacted") == ["r1"]
        assert self.titles(api, kanbanId=account["kanbanId"]) == ["r3"]
        assert self.titles(api, assignedUserId=admin) == ["r0"]
        assert self.titles(api, assignedUserId=member) == ["r1"]
        assert self.titles(api, assignedUserId=member, kanbanId=board["id"]) == ["r1"]
        assert self.titles(api, assignedUserId=member, status="new") == []
        assert self.titles(api, assignedUserId=admin, kanbanId=board["id"], status="new") == ["r0"]
        # The live lists hold only what was not deleted; deleted=false is the live list.
        assert [r["title"] for r in api.get("/crm/records").json()["items"]] == ["r2"]
        assert [r["title"] for r in api.get("/crm/records", query={"deleted": "false"}).json()["items"]] == ["r2"]

    def test_items_are_records_with_deleted_at_and_deleted_by(self, api, account, deleted):
        items = api.get("/crm/records", query={"deleted": "true"}).json()["items"]
        r4 = deleted["made"][4]
        assert items[0] == {**r4, "deletedAt": items[0]["deletedAt"], "deletedBy": account["userId"]}
        assert [i["deletedAt"] for i in items] == sorted((i["deletedAt"] for i in items), reverse=True)
        assert all(i["deletedAt"] >= i["updatedAt"] for i in items)

    def test_pagination_visits_every_trashed_record_once(self, api, deleted):
        seen, token, pages = [], None, 0
        while True:
            query = {"deleted": "true", "limit": 1} | ({"nextToken": token} if token else {})
            page = api.get("/crm/records", query=query).json()
            seen += [r["title"] for r in page["items"]]
            token, pages = page["nextToken"], pages + 1
            if token is None:
                break
        assert seen == ["r4", "r1", "r3", "r0"] and pages >= 4

    def test_a_trash_token_is_not_a_live_lists_token(self, api, deleted):
        token = api.get("/crm/records", query={"deleted": "true", "limit": 1}).json()["nextToken"]
        assert api.get("/crm/records", query={"nextToken": token}).status == 400

    @pytest.mark.parametrize("query", [{"deleted": "maybe"}, "deleted=true&deleted=false"])
    def test_bad_deleted_parameters_are_400(self, api, query):
        response = api.get("/crm/records", query=query)
        assert response.status == 400 and "deleted" in response.json()["message"]


class TestRestore:
    def test_a_restored_record_is_back_everywhere_at_a_new_version(self, api, unique_board, account, table,
                                                                   stream, emulator):
        email = unique_board["f"]["Email"]
        older = create(api, unique_board, "Older")
        record = create(api, unique_board, "Jane Zebrafish", customFields={email: "jane@example.com"},
                        assignedUserIds=[account["userId"]], channelId="chat-1")
        newer = create(api, unique_board, "Newer")
        api.delete(f"/crm/records/{record['recordId']}")
        stream.drain()
        _, member_token = create_member(api, [unique_board["id"]])
        restorer = api.as_token(member_token)

        response = restorer.post(f"/crm/records/{record['recordId']}/restore")
        stream.drain()

        assert response.status == 200, response.body
        restored = response.json()
        assert response.headers["ETag"] == '"3"'
        member_id = api.get("/users").json()["items"][-1]["userId"]
        assert restored == {**record, "updatedAt": restored["updatedAt"], "updatedBy": member_id}
        assert restored["updatedAt"] >= record["updatedAt"]
        got = api.get(f"/crm/records/{record['recordId']}")
        assert got.json() == restored and got.headers["ETag"] == '"3"'
        # Back in its place in the lists (by creation), in lookups, counts and search; gone from the trash.
        assert ids(api.get("/crm/records", query={"kanbanId": unique_board["id"]})) == [
            newer["recordId"], record["recordId"], older["recordId"]]
        assert ids(api.get("/crm/records", query={"assignedUserId": account["userId"]})) == [record["recordId"]]
        assert lookup(api, email, "JANE@example.com") == [record["recordId"]]
        assert counts(api, unique_board["id"])["new"] == 3
        assert ids(api.get("/crm/search", query={"q": "zebrafish"})) == [record["recordId"]]
        assert record["recordId"] in indexed(record)
        assert trash(api) == []
        items = partition(table, account["accountId"], record["recordId"])
        assert keys.RECORD_SK in items and keys.TRASH_SK not in items
        assert not [sk for sk in items if sk.startswith(keys.TRASH_ASSIGNMENT_PREFIX)]
        # Its channelId and unique value are held again.
        assert api.post("/crm/records", {"title": "Dup", "channelId": "chat-1"},
                        query={"kanbanId": unique_board["id"]}).json()["recordId"] == record["recordId"]
        taken = api.post("/crm/records", {"title": "Dup", "customFields": {email: "jane@example.com"}},
                         query={"kanbanId": unique_board["id"]})
        assert taken.status == 409 and record["recordId"] in taken.json()["message"]
        # It can be updated at its new version, and deleted and restored again.
        assert api.put(f"/crm/records/{record['recordId']}", {"title": "Again"},
                       headers={"If-Match": '"3"'}).status == 200
        assert api.delete(f"/crm/records/{record['recordId']}").status == 200
        assert api.post(f"/crm/records/{record['recordId']}/restore").headers["ETag"] == '"6"'

    def test_restoring_what_is_not_in_the_trash_is_404(self, api):
        live = api.post("/crm/records", {"title": "Live"}).json()
        response = api.post(f"/crm/records/{live['recordId']}/restore")
        assert response.status == 404 and "not in the trash" in response.json()["message"]
        assert api.post("/crm/records/record_1_missing/restore").status == 404
        api.delete(f"/crm/records/{live['recordId']}")
        assert api.post(f"/crm/records/{live['recordId']}/restore").status == 200
        assert api.post(f"/crm/records/{live['recordId']}/restore").status == 404

    def test_a_channel_id_taken_meanwhile_is_a_409_naming_the_holder_and_writes_nothing(self, api, unique_board,
                                                                                         table):
        old = create(api, unique_board, "Old", channelId="chat-1")
        api.delete(f"/crm/records/{old['recordId']}")
        # Released: a create for the channel makes a new record instead of answering the deleted one.
        new = create(api, unique_board, "New", channelId="chat-1")
        assert new["recordId"] != old["recordId"]
        before = stored(table)

        response = api.post(f"/crm/records/{old['recordId']}/restore")

        assert response.status == 409, response.body
        message = response.json()["message"]
        assert "channelId" in message and "chat-1" in message and new["recordId"] in message
        assert stored(table) == before
        assert trash(api) == [old["recordId"]]

    def test_a_unique_value_taken_meanwhile_is_a_409_naming_field_and_holder_and_writes_nothing(
            self, api, unique_board, table):
        email = unique_board["f"]["Email"]
        old = create(api, unique_board, "Old", customFields={email: "jane@example.com"})
        api.delete(f"/crm/records/{old['recordId']}")
        holder = create(api, unique_board, "Holder", customFields={email: " Jane@Example.com "})
        before = stored(table)

        response = api.post(f"/crm/records/{old['recordId']}/restore")

        assert response.status == 409, response.body
        message = response.json()["message"]
        assert f"customFields.{email}" in message and holder["recordId"] in message
        assert stored(table) == before
        # Once the holder is gone, the restore goes through.
        api.delete(f"/crm/records/{holder['recordId']}")
        assert api.post(f"/crm/records/{old['recordId']}/restore").status == 200
        assert lookup(api, email, "jane@example.com") == [old["recordId"]]

    def test_a_removed_status_or_a_deleted_kanban_is_a_409(self, api, board, table):
        record = create(api, board, "Contacted", status="contacted")
        api.delete(f"/crm/records/{record['recordId']}")
        statuses = [s for s in api.get(f"/kanbans/{board['id']}").json()["statuses"] if s["value"] != "contacted"]
        assert api.put(f"/kanbans/{board['id']}", {"statuses": statuses}).status == 200
        before = stored(table)

        no_status = api.post(f"/crm/records/{record['recordId']}/restore")

        assert no_status.status == 409 and "'contacted'" in no_status.json()["message"]
        assert stored(table) == before
        assert api.delete(f"/kanbans/{board['id']}").status == 200
        no_kanban = api.post(f"/crm/records/{record['recordId']}/restore")
        assert no_kanban.status == 409 and board["id"] in no_kanban.json()["message"]
        assert trash(api) == [record["recordId"]]


class TestPurge:
    def test_an_admin_purges_a_trashed_record(self, api, account, table):
        record = api.post("/crm/records", {"title": "Trashed", "assignedUserIds": [account["userId"]]}).json()
        api.delete(f"/crm/records/{record['recordId']}")

        response = api.delete(f"/crm/records/{record['recordId']}", query={"permanent": "true"})

        assert response.status == 200 and response.json() == {"message": "CRM record deleted successfully"}
        assert partition(table, account["accountId"], record["recordId"]) == {}
        assert trash(api) == [] and trash(api, assignedUserId=account["userId"]) == []
        assert api.post(f"/crm/records/{record['recordId']}/restore").status == 404
        assert api.delete(f"/crm/records/{record['recordId']}", query={"permanent": "true"}).status == 404

    def test_an_admin_purges_a_live_record(self, api, account, table):
        record = api.post("/crm/records", {"title": "Live", "channelId": "chat-1",
                                           "assignedUserIds": [account["userId"]]}).json()

        response = api.delete(f"/crm/records/{record['recordId']}", query={"permanent": "true"})

        assert response.status == 200
        assert partition(table, account["accountId"], record["recordId"]) == {}
        assert api.get(f"/crm/records/{record['recordId']}").status == 404
        assert trash(api) == [] and ids(api.get("/crm/records")) == []
        assert counts(api, account["kanbanId"])["new"] == 0
        assert api.post("/crm/records", {"title": "Next", "channelId": "chat-1"}).status == 201

    def test_if_match_guards_a_permanent_delete(self, api):
        record = api.post("/crm/records", {"title": "Guarded"}).json()
        path = f"/crm/records/{record['recordId']}"
        assert api.delete(path, query={"permanent": "true"}, headers={"If-Match": '"2"'}).status == 412
        assert api.get(path).status == 200
        assert api.delete(path, query={"permanent": "true"}, headers={"If-Match": '"1"'}).status == 200
        assert trash(api) == []

    def test_a_member_may_not_purge(self, api, account, table):
        _, token = create_member(api, [account["kanbanId"]])
        member = api.as_token(token)
        live = api.post("/crm/records", {"title": "Live"}).json()
        trashed = api.post("/crm/records", {"title": "Trashed"}).json()
        api.delete(f"/crm/records/{trashed['recordId']}")
        before = stored(table)

        for record in (live, trashed):
            response = member.delete(f"/crm/records/{record['recordId']}", query={"permanent": "true"})
            assert response.status == 403 and response.json()["error"] == "Forbidden"

        assert stored(table) == before
        assert ids(api.get("/crm/records")) == [live["recordId"]] and trash(api) == [trashed["recordId"]]


class TestAccess:
    def test_members_list_and_restore_only_the_trash_of_their_kanbans(self, api, board, account):
        _, token = create_member(api, [board["id"]])
        member = api.as_token(token)
        theirs = create(api, board, "Theirs")
        other = api.post("/crm/records", {"title": "Not theirs"}).json()  # the default kanban
        for record in (theirs, other):
            api.delete(f"/crm/records/{record['recordId']}")

        assert trash(member) == [theirs["recordId"]]
        assert member.get("/crm/records", query={"deleted": "true", "kanbanId": account["kanbanId"]}).status == 403
        refused = member.post(f"/crm/records/{other['recordId']}/restore")
        assert refused.status == 403 and trash(api) == [other["recordId"], theirs["recordId"]]
        assert member.post(f"/crm/records/{theirs['recordId']}/restore").status == 200
        # A member trashes only on their kanbans too.
        live = api.post("/crm/records", {"title": "Live elsewhere"}).json()
        assert member.delete(f"/crm/records/{live['recordId']}").status == 403
        assert api.get(f"/crm/records/{live['recordId']}").status == 200

    def test_another_accounts_trash_is_invisible(self, api):
        record = api.post("/crm/records", {"title": "Ours"}).json()
        api.delete(f"/crm/records/{record['recordId']}")
        stranger = api.as_token(bootstrap_account("Other", "Olga", "olga@example.com")["token"])

        assert trash(stranger) == []
        assert stranger.post(f"/crm/records/{record['recordId']}/restore").status == 404
        assert stranger.delete(f"/crm/records/{record['recordId']}", query={"permanent": "true"}).status == 404
        assert trash(api) == [record["recordId"]]


def test_a_record_at_every_limit_is_trashed_and_restored_each_in_one_transaction(api, account, table):
    """20 assignees, 25 indexed values (all of unique fields) and a channelId: the delete and the restore
    each stay within DynamoDB's 100 items per transaction."""
    kanban = api.post("/kanbans", {"name": "Wide", "fields": [
        {"name": f"Key {i}", "type": "text", "unique": True} for i in range(25)]}).json()
    users = [account["userId"]] + [
        api.post("/users", {"name": f"User {i}", "email": f"user{i}@example.com", "role": "member",
                            "kanbanIds": [kanban["id"]]}).json()["userId"] for i in range(19)]
    record = create(api, kanban, "Wide", customFields={f["id"]: f"value {i}" for i, f in enumerate(kanban["fields"])},
                    assignedUserIds=users, channelId="wide")

    assert api.delete(f"/crm/records/{record['recordId']}").status == 200
    items = partition(table, account["accountId"], record["recordId"])
    assert len(items) == 1 + 20 and trash(api, assignedUserId=users[-1]) == [record["recordId"]]
    restored = api.post(f"/crm/records/{record['recordId']}/restore")

    assert restored.status == 200, restored.body
    assert len(partition(table, account["accountId"], record["recordId"])) == 1 + 20 + 25
    assert lookup(api, kanban["fields"][24]["id"], "VALUE 24") == [record["recordId"]]
