"""A retry storm over HTTP against the local stack, whose handlers run in parallel worker processes:
many copies of one create with one Idempotency-Key create one record."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.e2e

COPIES = 20


def test_parallel_posts_with_one_idempotency_key_leave_exactly_one_record(stack):
    key = f"storm-{uuid.uuid4()}"
    title = f"Stormy lead {key}"
    start = threading.Barrier(COPIES)

    def create(_: int):
        start.wait()
        return stack.request("POST", "/crm/records?kanbanId=kanban_123", body={"title": title},
                             headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=COPIES) as pool:
        responses = list(pool.map(create, range(COPIES)))

    # One request ran; every other one got its answer replayed, or a 409 while it was still running.
    (first,) = [r for r in responses if r.status == 201 and "Idempotent-Replayed" not in r.headers]
    for response in responses:
        if response is first:
            continue
        if response.status == 409:
            assert response.json()["error"] == "Conflict", response.body
            assert "in progress" in response.json()["message"]
        else:
            assert (response.status, response.headers.get("Idempotent-Replayed")) == (201, "true"), response.body
            assert response.body == first.body
    listed = stack.request("GET", "/crm/records?kanbanId=kanban_123&limit=100").json()["items"]
    assert [r["title"] for r in listed].count(title) == 1
    # Once it has been answered, a retry gets the same answer.
    retry = stack.request("POST", "/crm/records?kanbanId=kanban_123", body={"title": title},
                          headers={"Idempotency-Key": key})
    assert (retry.status, retry.body, retry.headers["Idempotent-Replayed"]) == (201, first.body, "true")
