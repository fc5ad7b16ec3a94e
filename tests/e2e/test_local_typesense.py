"""The local stack's Typesense: supervised when bundled, one of the developer's own when TYPESENSE_URL
names it, and a taken port is one line that says what to change."""

import os
import signal
import socket
import subprocess

import pytest

from shared.local.typesense import TypesenseServer, external_typesense, free_port
from tests.local_stack import REPO, STACK_COMMAND, local_stack, stack_environment

from .conftest import eventually

HIGH_LIMITS = {"RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_PER_HOUR": "1000000"}


def _totals(stack) -> tuple[int, int] | None:
    """(records search finds, records the table counts) on the demo kanban, or None while search is down."""
    found = stack.request("GET", "/crm/search?kanbanId=kanban_123&pageSize=1")
    counts = stack.request("GET", "/crm/search/aggregations?kanbanId=kanban_123")
    if found.status != 200:
        return None
    return found.json()["total"], sum(s["count"] for s in counts.json()["status"])


def _create(stack, titles) -> None:
    for title in titles:
        assert stack.request("POST", "/crm/records?kanbanId=kanban_123", body={"title": title}).status == 201


@pytest.mark.skipif(bool(os.environ.get("TYPESENSE_URL")), reason="the stack runs no Typesense of its own")
def test_a_killed_typesense_is_restarted_and_search_is_complete_again(tmp_path):
    with local_stack(tmp_path, HIGH_LIMITS) as stack:
        _create(stack, [f"Before the crash {i}" for i in range(10)])
        assert eventually(lambda: (t := _totals(stack)) and t[0] == t[1] == 12)

        os.kill(stack.demo["typesensePid"], signal.SIGKILL)
        _create(stack, [f"During the outage {i}" for i in range(5)])  # writes go on while search is down

        totals = eventually(lambda: (t := _totals(stack)) and t[0] == t[1] and t, timeout=120)
        assert totals == (17, 17)
        assert "Typesense restarted" in stack.log_path.read_text()


def test_the_stack_uses_a_typesense_of_ones_own(tmp_path):
    own = external_typesense() or TypesenseServer(tmp_path / "own-typesense", free_port(), "own-admin-key").start()
    settings = {**HIGH_LIMITS, "TYPESENSE_URL": own.url, "TYPESENSE_API_KEY": own.api_key}
    try:
        with local_stack(tmp_path, settings) as stack:
            assert stack.demo["typesenseUrl"] == own.url and stack.demo["typesensePid"] is None
            _create(stack, ["Quillon Externa"])
            found = eventually(lambda: stack.request("GET", "/crm/search?q=externa").json()["items"])
            assert [i["title"] for i in found] == ["Quillon Externa"]
            assert eventually(lambda: (t := _totals(stack)) and t[0] == t[1] == 3)
    finally:
        if isinstance(own, TypesenseServer):
            own.stop()


@pytest.mark.parametrize("variable", ["PORT", "DYNAMODB_PORT", "TYPESENSE_PORT"])
def test_a_port_in_use_is_one_line_naming_the_variable_to_set(tmp_path, variable):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = stack_environment(tmp_path, {variable: str(port)})
        env.pop("TYPESENSE_URL", None)

        result = subprocess.run(STACK_COMMAND, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"port {port} is in use; set {variable} to another port"]
