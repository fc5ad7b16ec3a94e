"""A local stand-in for API Gateway (REST): routes with the shared route table, runs the Lambda
authorizer (caching its result per token, as API Gateway does), builds proxy events of the real
shape and invokes the route group's handler in a pool of worker processes, like separate Lambda
instances running side by side."""

import importlib
import json
import logging
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from shared import routes
from shared.errors import error_body
from shared.local import events

log = logging.getLogger("gateway")
_handlers: dict[str, Any] = {}


def _load_handler(handler_path: str) -> Any:
    """Runs in a worker process: import a handler once (its cold start) and keep it for later calls."""
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


class AuthorizerFailed(Exception):
    pass


class LocalGateway:
    def __init__(self, host: str, port: int, workers: int = 4, authorizer_cache_seconds: float = 300):
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        self._workers = workers
        self._cache_seconds = authorizer_cache_seconds
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._cache_lock = threading.Lock()
        gateway = self

        class Handler(_RequestHandler):
            def dispatch(self) -> None:
                gateway.handle(self)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def warm_up(self) -> None:
        """Import the handlers in the pool so the first requests do not pay the cold start."""
        paths = [routes.AUTHORIZER_HANDLER, *routes.ROUTE_GROUP_HANDLERS.values()]
        for future in [self._pool.submit(_warm, paths) for _ in range(self._workers)]:
            future.result()

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._pool.shutdown(cancel_futures=True)

    def _invoke(self, handler_path: str, event: dict[str, Any]) -> dict[str, Any]:
        return self._pool.submit(invoke_handler, handler_path, event).result(timeout=29)

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
            if str(error) != "Unauthorized":
                raise AuthorizerFailed(str(error)) from error
            policy = None
        if self._cache_seconds > 0:
            with self._cache_lock:
                self._cache[authorization] = (now + self._cache_seconds, policy)
        return policy

    def handle(self, request: "_RequestHandler") -> None:
        started = time.perf_counter()
        parts = urlsplit(request.path)
        method, path = request.command, parts.path
        found = routes.match(method, path)
        group = "-"
        try:
            if found is None:
                status, headers, body = _error(HTTPStatus.NOT_FOUND, f"no route for {method} {path}")
            else:
                group = found.group
                status, headers, body = self._call(request, method, path, parts.query, group)
        except AuthorizerFailed as failure:
            log.error("authorizer failed: %s", failure)
            status, headers, body = _error(HTTPStatus.INTERNAL_SERVER_ERROR, "the authorizer failed")
        except Exception:
            log.exception("invocation failed")
            status, headers, body = _error(HTTPStatus.BAD_GATEWAY, "the function failed to answer")
        request.respond(status, headers, body)
        log.info("%s %s %s %d %.0fms %s", request.client_address[0], method, request.path, status,
                 (time.perf_counter() - started) * 1000, group)

    def _call(self, request: "_RequestHandler", method: str, path: str, query: str, group: str):
        authorizer = None
        if method != "OPTIONS":
            authorization = request.headers.get("Authorization")
            if not authorization:
                return _error(HTTPStatus.UNAUTHORIZED, "missing Authorization header; expected 'Bearer <token>'")
            policy = self._authorize(authorization, method, path)
            if policy is None:
                return _error(HTTPStatus.UNAUTHORIZED, "invalid, revoked or unknown API token")
            authorizer = events.authorizer_context(policy)
        event = events.proxy_event(
            method, path, query_string=query, headers={k: v for k, v in request.headers.items()},
            body=request.body(), authorizer=authorizer, source_ip=request.client_address[0],
        )
        response = self._invoke(routes.ROUTE_GROUP_HANDLERS[group], event)
        headers = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(values)
        return response["statusCode"], headers, (response.get("body") or "").encode()


def _error(status: HTTPStatus, message: str) -> tuple[int, dict[str, str], bytes]:
    return status.value, {"Content-Type": "application/json"}, json.dumps(error_body(status, message)).encode()


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def dispatch(self) -> None:  # replaced per gateway
        raise NotImplementedError

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = lambda self: self.dispatch()  # noqa: E731

    def body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def respond(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in ("content-length", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """The gateway logs one line per request itself."""
