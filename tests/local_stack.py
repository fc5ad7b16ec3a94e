"""The real local stack (`python -m shared.local.stack`, what `make run` runs) as a subprocess on free
ports, and an HTTP client for it; the end-to-end tests and the benchmarks use it."""

import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.local.typesense import free_port

REPO = Path(__file__).resolve().parents[1]
# What `make run` runs, and how long it may take to start.
STACK_COMMAND = [sys.executable, "-m", "shared.local.stack"]
STARTUP_SECONDS = 120
# What `make sam` runs (the same stack, its API served by `sam local start-api`): a synthesis, the base image
# when the engine lacks it, and the function containers make it slower to start.
SAM_COMMAND = [sys.executable, "-m", "shared.local.sam"]
SAM_STARTUP_SECONDS = 600


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
    sam: bool = False
    """Whether `sam local start-api` serves the API (else the local gateway)."""

    def request(self, method: str, path: str, *, token: str | None = None, body: Any = None,
                headers: dict[str, str] | None = None) -> HttpResponse:
        all_headers = {"Authorization": f"Bearer {token or self.demo['token']}"} | (headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return HttpResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, dict(error.headers), error.read())


def stack_environment(work_dir: Path, environment: dict[str, str] | None = None) -> dict[str, str]:
    """The stack's environment: free ports, a data directory under work_dir, then `environment`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TABLE_", "DYNAMODB_", "TYPESENSE_"))}
    if os.environ.get("TYPESENSE_URL"):  # a Typesense of the developer's own (where the bundled one cannot run)
        env |= {k: os.environ[k] for k in ("TYPESENSE_URL", "TYPESENSE_API_KEY") if k in os.environ}
    return env | {"PORT": str(free_port()), "DYNAMODB_PORT": str(free_port()), "TYPESENSE_PORT": str(free_port()),
                  "LOCAL_DATA_DIR": str(work_dir / "data"), "PYTHONUNBUFFERED": "1", **(environment or {})}


@contextmanager
def local_stack(work_dir: Path, environment: dict[str, str] | None = None, *,
                sam: bool = False) -> Iterator[LocalStack]:
    """Run the stack until the block ends; `environment` adds to (or overrides) its settings. With `sam`, its
    API is served by `sam local start-api` from Lambda runtime containers (`make sam`)."""
    log_path = work_dir / "stack.log"
    env = stack_environment(work_dir, environment) | ({"SAM_PORT": str(free_port())} if sam else {})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(SAM_COMMAND if sam else STACK_COMMAND, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                   stderr=log)
    try:
        ready = _wait_until_ready(process, SAM_STARTUP_SECONDS if sam else STARTUP_SECONDS)
        if ready is None:
            raise RuntimeError(f"the local stack did not start:\n{log_path.read_text()[-3000:]}")
        yield LocalStack(ready["baseUrl"], int(env["DYNAMODB_PORT"]), ready, log_path, sam)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_ready(process: subprocess.Popen, startup_seconds: float) -> dict[str, str] | None:
    """The stack's READY line as JSON, or None if it exits or stays silent for `startup_seconds`.

    A reader thread keeps draining stdout for the stack's whole life, so the pipe never fills.
    """
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def read() -> None:
        for raw in stdout:
            lines.put(raw.decode(errors="replace"))
        lines.put("")

    threading.Thread(target=read, name="stack-stdout", daemon=True).start()
    deadline = time.monotonic() + startup_seconds
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            return None
        if line.startswith("READY "):
            return json.loads(line.removeprefix("READY "))
        if not line:
            return None
    return None
