"""A local stand-in for API Gateway (REST).

ApiGatewayEmulator does what API Gateway does for one request: route with the shared route table,
run the Lambda authorizer (caching its result per token), build the proxy event of the real shape and
invoke the route group's handler. LocalGateway serves it over HTTP and runs the handlers in a pool of
worker processes, like separate Lambda instances side by side; the tests run the same emulator with
the handlers in-process.
"""

import importlib
import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from shared import routes
from shared.errors import error_body
from shared.local import events

log = logging.getLogger("gateway")
_handlers: dict[str, Any] = {}

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]


def _load_handler(handler_path: str) -> Any:
    """Import a handler once (its cold start) and keep it for later calls."""
    handler = _handlers.get(handler_path)
    if handler is None:
        module_name, function_name = handler_path.split(":")
        handler = _handlers[handler_path] = getattr(importlib.import_module(module_name), function_name)
    return handler


def _warm(handler_paths: list[str]) -> None:
    for path in handler_paths:
        _load_handler(path)


def invoke_handler(handler_path: str, event: dict[str, Any]) -> dict[str, Any]:
    return _load_handler(handler_path)(event, events.LambdaContext(function_name=handler_path.split(".")[1]))


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    group: str | None

    def json(self) -> Any:
        return json.loads(self.body)


def _error(status: HTTPStatus, message: str, group: str | None = None) -> GatewayResponse:
    body = json.dumps(error_body(status, message)).encode()
    return GatewayResponse(status.value, {"Content-Type": "application/json"}, body, group)


class ApiGatewayEmulator:
    def __init__(self, invoke: Invoke, authorizer_cache_seconds: float = routes.AUTHORIZER_CACHE_SECONDS):
        self._invoke = invoke
        self._cache_seconds = authorizer_cache_seconds
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._cache_lock = threading.Lock()

    def _authorize(self, authorization: str, method: str, path: str) -> dict[str, Any] | None:
        """The authorizer's policy for a token (None when it answered Unauthorized), cached per token."""
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get(authorization)
        if cached and cached[0] > now:
            return cached[1]
        try:
            policy: dict[str, Any] | None = self._invoke(
                routes.AUTHORIZER_HANDLER, events.token_authorizer_event(authorization, method, path)
            )
        except Exception as error:
            if str(error) != "Unauthorized":  # API Gateway's convention for "deny with 401"
                log.error("authorizer failed: %s", error)
                return {"failed": True}
            policy = None
        if self._cache_seconds > 0:
            with self._cache_lock:
                self._cache[authorization] = (now + self._cache_seconds, policy)
        return policy

    def dispatch(
        self, method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
        body: bytes | None = None, source_ip: str = "127.0.0.1",
    ) -> GatewayResponse:
        headers = headers or {}
        found = routes.match(method, path)
        if found is None:
            return _error(HTTPStatus.NOT_FOUND, f"no route for {method} {path}")
        authorizer = None
        if method != "OPTIONS":
            authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
            if not authorization:
                return _error(HTTPStatus.UNAUTHORIZED, "missing Authorization header; expected 'Bearer <token>'",
                              found.group)
            policy = self._authorize(authorization, method, path)
            if policy is None:
                return _error(HTTPStatus.UNAUTHORIZED, "invalid, revoked or unknown API token", found.group)
            if policy.get("failed"):
                return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "the authorizer failed", found.group)
            authorizer = events.authorizer_context(policy)
        event = events.proxy_event(
            method, path, query_string=query, headers=headers, body=body, authorizer=authorizer,
            source_ip=source_ip,
        )
        response = self._invoke(routes.ROUTE_GROUP_HANDLERS[found.group], event)
        response_headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            response_headers[name] = ", ".join(values)
        return GatewayResponse(
            response["statusCode"], response_headers, (response.get("body") or "").encode(), found.group
        )


class LocalGateway:
    """The emulator behind an HTTP server, with the handlers in worker processes."""

    def __init__(self, host: str, port: int, workers: int = 4,
                 authorizer_cache_seconds: float = routes.AUTHORIZER_CACHE_SECONDS):
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        self._workers = workers
        self.emulator = ApiGatewayEmulator(self.invoke, authorizer_cache_seconds)
        gateway = self

        class Handler(_RequestHandler):
            def dispatch(self) -> None:
                gateway._serve(self)

        self.server = _HttpServer((host, port), Handler)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def warm_up(self) -> None:
        """Import the handlers in every worker so the first requests do not pay the cold start."""
        paths = [routes.AUTHORIZER_HANDLER, routes.INDEXER_HANDLER, *routes.ROUTE_GROUP_HANDLERS.values()]
        for future in [self._pool.submit(_warm, paths) for _ in range(self._workers)]:
            future.result()

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._pool.shutdown(cancel_futures=True)

    def invoke(self, handler_path: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run one function invocation in a worker process."""
        return self._pool.submit(invoke_handler, handler_path, event).result(timeout=29)

    def _serve(self, request: "_RequestHandler") -> None:
        started = time.perf_counter()
        parts = urlsplit(request.path)
        try:
            response = self.emulator.dispatch(
                request.command, parts.path, parts.query, dict(request.headers.items()), request.body(),
                request.client_address[0],
            )
        except Exception:
            log.exception("invocation failed")
            response = _error(HTTPStatus.BAD_GATEWAY, "the function failed to answer")
        request.respond(response)
        log.info("%s %s %s %d %.0fms %s", request.client_address[0], request.command, request.path,
                 response.status, (time.perf_counter() - started) * 1000, response.group or "-")


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of parallel clients waits in the queue instead of being refused


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def dispatch(self) -> None:  # bound to a gateway by LocalGateway
        raise NotImplementedError

    def do_GET(self) -> None:
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def respond(self, response: GatewayResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """The gateway logs one line per request itself."""
