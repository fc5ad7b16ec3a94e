"""A slow or unreachable dependency gets a clear 503 before the gateway gives up, and never holds every
worker of the local gateway. DynamoDB here is moto's server behind a proxy that can be slowed, since
time-outs only happen over a real connection."""

import http.client
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from moto.server import ThreadedMotoServer

from shared.local.gateway import ApiGatewayEmulator, LocalGateway, invoke_handler
from shared.local.typesense import free_port
from shared.logic.admin import bootstrap_account
from shared.repository.table import create_table, dynamodb_client
from shared.routes import API_FUNCTION_TIMEOUT_SECONDS
from shared.settings import get_settings
from tests.integration.conftest import Api


class SlowProxy:
    """Forwards every request to DynamoDB at once, then holds the answer for `delay` seconds: the
    write happens, the client waits."""

    def __init__(self, target: str):
        self.delay = 0.0
        proxy = self
        host, port = urlsplit(target).hostname, urlsplit(target).port

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                upstream = http.client.HTTPConnection(host, port, timeout=30)
                upstream.request("POST", self.path, body, dict(self.headers.items()))
                answer = upstream.getresponse()
                payload = answer.read()
                time.sleep(proxy.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.getheaders():
                        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def moto_server():
    """moto's server in this process; its state is the process's moto state, so it starts and ends empty."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server._server.server_port}"
    reset = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()
    yield url
    urllib.request.urlopen(reset).close()
    server.stop()


@pytest.fixture
def slow_table(moto_server, monkeypatch) -> SlowProxy:
    proxy = SlowProxy(moto_server)
    monkeypatch.setenv("DYNAMODB_ENDPOINT_URL", proxy.url)
    get_settings.cache_clear()
    dynamodb_client.cache_clear()
    create_table(dynamodb_client(), get_settings().table_name)
    yield proxy
    proxy.server.shutdown()
    dynamodb_client.cache_clear()


def test_a_slow_database_is_a_503_with_retry_after_within_the_functions_timeout(slow_table):
    account = bootstrap_account("Acme Inc", "Ada Admin", "ada@example.com")
    api = Api(ApiGatewayEmulator(invoke_handler, authorizer_cache_seconds=60), account["token"])
    assert api.get("/kanbans").status == 200  # the authorizer's answer is cached from here on

    slow_table.delay = 30
    started = time.monotonic()
    response = api.post("/crm/records", {"title": "written slowly"})
    elapsed = time.monotonic() - started

    assert response.status == 503
    assert response.json()["error"] == "Service Unavailable"
    assert "request id" in response.json()["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert elapsed < API_FUNCTION_TIMEOUT_SECONDS  # the function answers; Lambda never has to stop it
    slow_table.delay = 0
    assert api.get("/kanbans").status == 200


class Blackhole:
    """A server that accepts connections and never answers: a search engine that hangs."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(connection)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def close(self) -> None:
        self.socket.close()
        for connection in self.connections:
            connection.close()


def test_a_hanging_search_engine_does_not_hold_the_other_routes(moto_server, monkeypatch):
    blackhole = Blackhole()
    for name, value in {"DYNAMODB_ENDPOINT_URL": moto_server, "TYPESENSE_NODES": blackhole.url,
                        "TYPESENSE_SEARCH_KEY": "search-key"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    dynamodb_client.cache_clear()
    create_table(dynamodb_client(), get_settings().table_name)
    account = bootstrap_account("Acme Inc", "Ada Admin", "ada@example.com")
    gateway = LocalGateway("127.0.0.1", 0, workers=2, max_workers=6)
    gateway.warm_up()
    threading.Thread(target=gateway.serve_forever, daemon=True).start()

    def get(path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=60)
        connection.request("GET", path, headers={"Authorization": f"Bearer {account['token']}"})
        return connection.getresponse().status

    try:
        with ThreadPoolExecutor(max_workers=4) as clients:
            searches = [clients.submit(get, "/crm/search?q=john") for _ in range(3)]
            while len(blackhole.connections) < 3:  # every warm worker, and one more, wait on the engine
                time.sleep(0.05)

            assert get("/kanbans") == 200
            assert not any(s.done() for s in searches)
            assert [s.result() for s in searches] == [503] * 3
    finally:
        gateway.shutdown()
        blackhole.close()


def test_the_local_gateway_sends_answers_without_waiting_for_acknowledgements(monkeypatch):
    """Nagle's algorithm off on every connection: keep-alive clients would otherwise wait ~40 ms for each
    answer. (An unknown route is answered by the gateway itself, so no function runs here.)"""
    options = []
    gateway = LocalGateway("127.0.0.1", 0)
    handler_class = gateway.server.RequestHandlerClass
    setup = handler_class.setup

    def recording_setup(self) -> None:
        setup(self)
        options.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(handler_class, "setup", recording_setup)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        for _ in range(2):
            connection.request("GET", "/nowhere")
            response = connection.getresponse()
            response.read()
            assert response.status == 404
    finally:
        gateway.shutdown()

    assert options == [1]
