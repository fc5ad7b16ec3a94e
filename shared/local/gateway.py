"""A local stand-in for API Gateway (REST).

ApiGatewayEmulator does what API Gateway does for one request: route with the shared route table,
run the Lambda authorizer (caching its result per token), build the proxy event of the real shape,
refuse what Lambda would refuse (an event over 6 MB: 413) and invoke the route group's handler.
LocalGateway serves it over HTTP and runs the handlers in worker processes that scale out like Lambda
instances; the tests run the same emulator with the handlers in-process.
"""

import importlib
import json
import logging
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from shared import routes
from shared.errors import UNAUTHORIZED_MESSAGE, error_body
from shared.http import to_json
from shared.local import events

log = logging.getLogger("gateway")
_handlers: dict[str, Any] = {}

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
# API Gateway's own limit on a request body; Lambda's (on the whole event) is lower.
MAX_BODY_BYTES = 10 * 1024 * 1024
TOO_LARGE = ("the request is too large: a function accepts at most 6 MB, with the body base64-encoded "
             "(about 4.5 MB of JSON)")


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
    """Invoke a handler in this process; a failure raises FunctionFailed with its message."""
    try:
        return _load_handler(handler_path)(event, events.LambdaContext(function_name=handler_path.split(".")[1]))
    except Exception as error:
        raise FunctionFailed(str(error)) from error


def _timeout_of(handler_path: str) -> float:
    if handler_path in (routes.INDEXER_HANDLER, routes.EVENTS_HANDLER):
        return routes.INDEXER_TIMEOUT_SECONDS
    if handler_path == routes.DELIVERIES_HANDLER:
        return routes.DELIVERIES_TIMEOUT_SECONDS
    return routes.API_FUNCTION_TIMEOUT_SECONDS


def _serve_invocations(connection: Connection, handler_paths: list[str]) -> None:
    """A worker process: one function instance at a time, like a Lambda execution environment."""
    _warm(handler_paths)
    connection.send(("ready", None))
    while True:
        try:
            handler_path, event = connection.recv()
        except EOFError:
            return
        try:
            connection.send(("ok", invoke_handler(handler_path, event)))
        except FunctionFailed as error:
            connection.send(("failed", str(error)))


class _Worker:
    def __init__(self, context: Any, handler_paths: list[str]):
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve_invocations, args=(child, handler_paths), daemon=True)
        self._process.start()
        child.close()
        self._connection.recv()  # ready: the handlers are imported (the cold start is paid here)

    def invoke(self, handler_path: str, event: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._connection.send((handler_path, event))
        if not self._connection.poll(timeout):
            raise FunctionTimedOut(f"{handler_path} ran past its {timeout:.0f} s timeout")
        outcome, value = self._connection.recv()
        if outcome == "failed":
            raise FunctionFailed(value)
        return value

    def stop(self) -> None:
        self._process.kill()
        self._process.join()
        self._connection.close()


class WorkerPool:
    """Worker processes that scale out like Lambda instances: an invocation takes an idle worker or
    starts another (up to max_workers), so a dependency that holds some invocations never holds the
    rest; an invocation past its function's timeout stops its worker."""

    def __init__(self, warm_workers: int, max_workers: int, handler_paths: list[str]):
        self._context = multiprocessing.get_context("spawn")
        self._handler_paths = handler_paths
        self._max_workers = max(max_workers, warm_workers)
        self._idle: list[_Worker] = []
        self._running = 0
        self._available = threading.Condition()
        with ThreadPoolExecutor(max_workers=warm_workers) as starting:
            self._idle = list(starting.map(lambda _: self._new_worker(), range(warm_workers)))
        self._running = warm_workers

    def _new_worker(self) -> _Worker:
        return _Worker(self._context, self._handler_paths)

    def _acquire(self) -> _Worker:
        with self._available:
            while not self._idle and self._running >= self._max_workers:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._running += 1
        try:
            return self._new_worker()
        except BaseException:
            self._retire(None)
            raise

    def _retire(self, worker: _Worker | None) -> None:
        if worker is not None:
            worker.stop()
        with self._available:
            self._running -= 1
            self._available.notify()

    def _release(self, worker: _Worker) -> None:
        with self._available:
            self._idle.append(worker)
            self._available.notify()

    def invoke(self, handler_path: str, event: dict[str, Any]) -> dict[str, Any]:
        worker = self._acquire()
        try:
            result = worker.invoke(handler_path, event, _timeout_of(handler_path))
        except FunctionFailed:
            self._release(worker)
            raise
        except BaseException:  # timed out, or the process died: that instance is gone
            self._retire(worker)
            raise
        self._release(worker)
        return result

    def shutdown(self) -> None:
        with self._available:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.stop()


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    group: str | None

    def json(self) -> Any:
        return json.loads(self.body)


def _error(status: HTTPStatus, message: str, group: str | None = None) -> GatewayResponse:
    """An answer of the gateway itself; server-side failures carry a request id, as the deployed
    gateway responses do."""
    if status >= 500:
        message = f"{message} (request id {uuid.uuid4()})"
    body = to_json(error_body(status, message)).encode()
    return GatewayResponse(status.value, {"Content-Type": "application/json"}, body, group)


class FunctionFailed(RuntimeError):
    """An invocation raised (the message is the function's error message, as Lambda reports it)."""


class FunctionTimedOut(Exception):
    """An invocation ran past its function's timeout; its instance was stopped, as Lambda stops it."""


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
        except FunctionFailed as error:
            if str(error) != "Unauthorized":  # API Gateway's convention for "deny with 401"
                log.error("authorizer failed: %s", error)
                return {"failed": True}
            policy = None
        except FunctionTimedOut:
            log.error("authorizer timed out")
            return {"failed": True}
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
        if method != "OPTIONS" and not (found.route is not None and found.route.public):
            authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
            if not authorization:
                return _error(HTTPStatus.UNAUTHORIZED, UNAUTHORIZED_MESSAGE, found.group)
            policy = self._authorize(authorization, method, path)
            if policy is None:
                return _error(HTTPStatus.UNAUTHORIZED, UNAUTHORIZED_MESSAGE, found.group)
            if policy.get("failed"):
                return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "the authorizer failed", found.group)
            authorizer = events.authorizer_context(policy)
        event = events.proxy_event(
            method, path, query_string=query, headers=headers, body=body, authorizer=authorizer,
            source_ip=source_ip,
        )
        if len(json.dumps(event)) > routes.MAX_EVENT_BYTES:
            return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, TOO_LARGE, found.group)
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
                 authorizer_cache_seconds: float = routes.AUTHORIZER_CACHE_SECONDS, *, max_workers: int = 8):
        self.server = _HttpServer((host, port), _handler_class(self))
        self._warm_workers, self._max_workers = workers, max_workers
        self._pool: WorkerPool | None = None
        self.emulator = ApiGatewayEmulator(self.invoke, authorizer_cache_seconds)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def warm_up(self) -> None:
        """Start the warm workers, each with every handler imported, so the first requests do not pay
        the cold start."""
        paths = [routes.AUTHORIZER_HANDLER, routes.INDEXER_HANDLER, routes.EVENTS_HANDLER, routes.DELIVERIES_HANDLER,
                 *routes.ROUTE_GROUP_HANDLERS.values()]
        self._pool = WorkerPool(self._warm_workers, self._max_workers, paths)

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._pool is not None:
            self._pool.shutdown()

    def invoke(self, handler_path: str, event: dict[str, Any]) -> dict[str, Any]:
        """Run one function invocation in a worker process."""
        if self._pool is None:
            self.warm_up()
        assert self._pool is not None
        return self._pool.invoke(handler_path, event)

    def _serve(self, request: "_RequestHandler") -> None:
        started = time.perf_counter()
        parts = urlsplit(request.path)
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            response = _error(HTTPStatus.BAD_REQUEST, "the Content-Length header is not a number")
        elif length > MAX_BODY_BYTES:
            # Not read: the connection closes after the answer.
            request.close_connection = True
            response = _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, TOO_LARGE)
        else:
            try:
                response = self.emulator.dispatch(
                    request.command, parts.path, parts.query, dict(request.headers.items()),
                    request.rfile.read(length) if length else None, request.client_address[0],
                )
            except FunctionTimedOut as timed_out:
                log.error("%s", timed_out)
                response = _error(HTTPStatus.GATEWAY_TIMEOUT, "the function did not answer in time")
            except Exception:
                log.exception("invocation failed")
                response = _error(HTTPStatus.BAD_GATEWAY, "the function failed to answer")
        request.respond(response)
        log.info("%s %s %s %d %.0fms %s", request.client_address[0], request.command, request.path,
                 response.status, (time.perf_counter() - started) * 1000, response.group or "-")


def _handler_class(gateway: LocalGateway) -> type["_RequestHandler"]:
    class Handler(_RequestHandler):
        def dispatch(self) -> None:
            gateway._serve(self)

    return Handler


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a burst of parallel clients waits in the queue instead of being refused


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Answers go out at once; with Nagle's algorithm keep-alive clients wait ~40 ms for each.
    disable_nagle_algorithm = True

    def dispatch(self) -> None:  # bound to a gateway by LocalGateway
        raise NotImplementedError

    def do_GET(self) -> None:
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, any token) is routed too, so it gets the API's own answer (405
        # with Allow, like PATCH) instead of http.server's 501 page in HTML.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

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
