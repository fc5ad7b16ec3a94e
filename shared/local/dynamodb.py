"""The embedded DynamoDB of the local stack: moto's server, one request at a time.

Serving requests one by one makes every conditional write and transaction atomic, as DynamoDB's are;
concurrency then comes from the gateway's worker processes, as it does from Lambda instances.
"""

import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server


class EmbeddedDynamoDB:
    def __init__(self, host: str, port: int):
        self._server: BaseWSGIServer = make_server(
            host, port, DomainDispatcherApplication(create_backend_app), threaded=False,
            request_handler=MotoRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="dynamodb", daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "EmbeddedDynamoDB":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
