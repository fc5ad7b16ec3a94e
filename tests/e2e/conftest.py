"""Start the real local stack (`python -m shared.local.stack`, what `make run` runs) on free ports and
talk to it over HTTP."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalStack:
    base_url: str
    dynamodb_port: int
    demo: dict[str, str]
    log_path: Path

    def request(self, method: str, path: str, *, token: str | None = None, body: Any = None,
                raw: bytes | None = None, headers: dict[str, str] | None = None) -> HttpResponse:
        all_headers = {"Authorization": f"Bearer {token or self.demo['token']}"} | (headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return HttpResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, dict(error.headers), error.read())


def eventually(check, timeout: float = 15.0, interval: float = 0.05):
    """Poll until check() returns a truthy value (search follows writes through the stream)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    port, dynamodb_port = free_port(), free_port()
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLE_", "DYNAMODB_"))}
    environment |= {"PORT": str(port), "DYNAMODB_PORT": str(dynamodb_port), "TYPESENSE_PORT": str(free_port()),
                    "LOCAL_DATA_DIR": str(log_path.parent / "data"), "PYTHONUNBUFFERED": "1",
                    # The demo account serves every e2e test; the limiter test sets its own account's limits.
                    "RATE_LIMIT_PER_MINUTE": "100000", "RATE_LIMIT_PER_HOUR": "1000000"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "shared.local.stack"], cwd=REPO, env=environment,
                                   stdout=subprocess.PIPE, stderr=log)
        try:
            demo = _wait_until_ready(process, log_path)
            yield LocalStack(demo["baseUrl"], dynamodb_port, demo, log_path)
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_ready(process: subprocess.Popen, log_path: Path) -> dict[str, str]:
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        if line.startswith("READY "):
            return json.loads(line.removeprefix("READY "))
        if not line and process.poll() is not None:
            break
    raise RuntimeError(f"the local stack did not start:\n{log_path.read_text()[-3000:]}")
