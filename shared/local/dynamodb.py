"""The embedded DynamoDB of the local stack: moto's server, one request at a time.

Serving requests one by one makes every conditional write and transaction atomic, as DynamoDB's are;
concurrency then comes from the gateway's worker processes, as it does from Lambda instances. moto is
patched (shared.local.moto_patch) so that transactions cost what they touch rather than the whole
table, and the stream forgets what the poller has consumed.
"""

import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from shared.local import moto_patch


class EmbeddedDynamoDB:
    def __init__(self, host: str, port: int):
        moto_patch.apply()
        self._server: BaseWSGIServer = make_server(
            host, port, DomainDispatcherApplication(create_backend_app), threaded=False,
            request_handler=MotoRequestHandler,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="dynamodb", daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @staticmethod
    def trim_stream(stream_arn: str, shard_id: str, through_sequence_number: str) -> None:
        """Forget the stream's records up to this one: the poller (in this process) has consumed them."""
        moto_patch.trim_stream(stream_arn, shard_id, through_sequence_number)

    def start(self) -> "EmbeddedDynamoDB":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
