"""End-to-end tests talk HTTP to the real local stack, started once per session on free ports.

Each test runs against two endpoints of that stack: the local gateway (`make run`, handlers in-process) and
`sam local start-api` (`make sam`, the synthesized functions in Lambda runtime containers). E2E_ENDPOINTS
(comma-separated, default "gateway,sam") picks them; the SAM endpoint is skipped, with the reason, where no
Docker engine answers, unless E2E_REQUIRE_SAM=1 (CI sets it): then that is a failure. A test marked
`gateway_only` checks what only the local gateway emulates.
"""

import os
import shutil
import subprocess
import time

import pytest

from shared.local.sam import SAM
from tests.local_stack import local_stack

# What sam local start-api answers otherwise: a missing token is its own 401 {"message": "Unauthorized"} (it does not
# apply the API's gateway responses), and an authorizer that raises "Unauthorized" is a 502.
UNAUTHORIZED_ANSWERS = "API Gateway's answers to a missing or refused token (gateway responses, the authorizer's 401)"
ENDPOINTS = [name.strip() for name in os.environ.get("E2E_ENDPOINTS", "gateway,sam").split(",") if name.strip()]


def eventually(check, timeout: float = 15.0, interval: float = 0.05):
    """Poll until check() returns a truthy value (search follows writes through the stream)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def sam_unavailable() -> str | None:
    """Why `make sam` cannot run on this machine, or None."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        return "no Docker engine answers `docker info` (start dockerd)"
    if not SAM.exists():
        return f"SAM CLI is not installed at {SAM} (make test and make sam install it)"
    return None


@pytest.fixture(scope="session", params=ENDPOINTS)
def stack(request, tmp_path_factory):
    sam = request.param == "sam"
    if sam and (reason := sam_unavailable()):
        if os.environ.get("E2E_REQUIRE_SAM") == "1":
            pytest.fail(f"E2E_REQUIRE_SAM=1, but sam local start-api cannot run: {reason}")
        pytest.skip(f"end-to-end suite against sam local start-api skipped: {reason}")
    # The demo account serves every e2e test; the limiter test sets its own account's limits.
    limits = {"RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_PER_HOUR": "1000000"}
    # Webhook retries after about a second rather than 30 s, so a retry is seen within the test.
    webhooks = {"WEBHOOK_RETRY_BASE_SECONDS": "1"}
    with local_stack(tmp_path_factory.mktemp(request.param), limits | webhooks, sam=sam) as running:
        yield running


@pytest.fixture(autouse=True)
def _gateway_only(request):
    marker = request.node.get_closest_marker("gateway_only")
    callspec = getattr(request.node, "callspec", None)
    if marker and callspec and callspec.params.get("stack") == "sam":
        pytest.skip(f"sam local start-api does not emulate this: {marker.args[0]}")
