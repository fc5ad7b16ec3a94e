"""`make run`: the whole local stack in one process tree.

Embedded DynamoDB (moto server, also serving the event bus) with the shared table definition, a real
Typesense server, the stream pollers that feed the indexer and the events function, the demo account,
and the local API Gateway on http://127.0.0.1:3000 in front of every route group's handler.
"""

import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
from pathlib import Path

from pydantic import BaseModel, Field

from shared.local.dynamodb import EmbeddedDynamoDB
from shared.local.gateway import LocalGateway
from shared.local.queue_poller import QueuePoller, create_delivery_queues
from shared.local.stream_poller import SharedTrim, StreamPoller, is_record_or_trash_change
from shared.local.typesense import LOCAL_TYPESENSE_API_KEY, TypesenseConnection, TypesenseServer, external_typesense
from shared.routes import (
    AUTHORIZER_CACHE_SECONDS,
    DELIVERIES_HANDLER,
    DELIVERIES_TIMEOUT_SECONDS,
    DELIVERY_BATCH_SIZE,
    EVENTS_HANDLER,
    INDEXER_HANDLER,
)


class LocalStackSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=3000, alias="PORT")
    dynamodb_port: int = Field(default=8000, alias="DYNAMODB_PORT")
    typesense_port: int = Field(default=8108, alias="TYPESENSE_PORT")
    data_dir: Path = Field(default=Path(".local"), alias="LOCAL_DATA_DIR")
    # Function workers started warm, and how far they scale out under concurrent requests.
    workers: int = Field(default=4, alias="LOCAL_WORKERS", ge=1, le=32)
    max_workers: int = Field(default=8, alias="LOCAL_MAX_WORKERS", ge=1, le=64)
    authorizer_cache_seconds: float = Field(
        default=AUTHORIZER_CACHE_SECONDS, alias="AUTHORIZER_CACHE_SECONDS", ge=0, le=3600
    )
    table_name: str = Field(default="crm-local", alias="TABLE_NAME")
    idempotency_table_name: str = Field(default="crm-local-idempotency", alias="IDEMPOTENCY_TABLE_NAME")
    event_bus_name: str = Field(default="crm-local-events", alias="EVENT_BUS_NAME")
    delivery_queue_name: str = Field(default="crm-local-deliveries", alias="DELIVERY_QUEUE_NAME")
    # Webhooks may target http://127.0.0.1 (a receiver on this machine); deployed stacks never allow it.
    webhooks_allow_local_http: bool = Field(default=True, alias="WEBHOOKS_ALLOW_LOCAL_HTTP")
    # Where to write the functions' environment as JSON (`make sam` hands it to the Lambda containers).
    function_environment_file: Path | None = Field(default=None, alias="LOCAL_FUNCTION_ENVIRONMENT_FILE")


def _function_environment(settings: LocalStackSettings, endpoint_url: str, typesense: TypesenseConnection,
                          search_key: str, queue_url: str) -> dict[str, str]:
    """What the functions' settings read; the worker processes inherit it."""
    return {
        "TABLE_NAME": settings.table_name,
        "IDEMPOTENCY_TABLE_NAME": settings.idempotency_table_name,
        "DYNAMODB_ENDPOINT_URL": endpoint_url,
        # moto's server is the local EventBridge too.
        "EVENTS_ENDPOINT_URL": endpoint_url,
        "EVENT_BUS_NAME": settings.event_bus_name,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "PAGINATION_SECRET": secrets.token_urlsafe(32),
        "TYPESENSE_NODES": typesense.url,
        "TYPESENSE_API_KEY": typesense.api_key,
        "TYPESENSE_SEARCH_KEY": search_key,
        "TYPESENSE_COLLECTION": "crm-records",
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
        # moto's server is also the local SQS: the deliveries queue and its dead-letter queue.
        "SQS_ENDPOINT_URL": endpoint_url,
        "WEBHOOK_QUEUE_URL": queue_url,
        "WEBHOOKS_ALLOW_LOCAL_HTTP": "true" if settings.webhooks_allow_local_http else "false",
        **{name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ},
    }


# Function settings a developer (or a test) may set for the local stack.
_PASSED_THROUGH = ("RATE_LIMIT_PER_MINUTE", "RATE_LIMIT_PER_HOUR", "WEBHOOK_RETRY_BASE_SECONDS",
                   "WEBHOOK_RETRY_MAX_SECONDS", "WEBHOOK_RETRY_WINDOW_SECONDS")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (it holds the stack's keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(text)


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def _require_free_ports(host: str, ports: dict[str, int]) -> None:
    """Stop with one line naming the variable to change when a port is taken."""
    for variable, port in ports.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise SystemExit(f"port {port} is in use; set {variable} to another port") from None


def _repair_index() -> None:
    """After Typesense restarted: re-index, for every account, whatever it lost."""
    from shared.logic.index_verification import repair_all
    from shared.search.index import index_writer

    result = repair_all(index_writer())
    logging.getLogger("typesense").warning("index checked after the restart: %d documents repaired",
                                           result.differences)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("werkzeug", "httpx", "botocore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = LocalStackSettings.model_validate(dict(os.environ))
    external = external_typesense()
    _require_free_ports(settings.host, {"PORT": settings.port, "DYNAMODB_PORT": settings.dynamodb_port,
                                        **({} if external else {"TYPESENSE_PORT": settings.typesense_port})})
    signal.signal(signal.SIGTERM, _stop)
    dynamodb = EmbeddedDynamoDB(settings.host, settings.dynamodb_port).start()
    # The table lives in memory, so the index starts empty too. The bundled server is supervised (restarted
    # if it dies); one of the developer's own (TYPESENSE_URL) is theirs to run.
    bundled = None if external else TypesenseServer(settings.data_dir / "typesense", settings.typesense_port,
                                                    LOCAL_TYPESENSE_API_KEY)
    typesense: TypesenseConnection = external or bundled  # type: ignore[assignment]
    stop_polling = threading.Event()
    gateway = None
    try:
        if bundled:
            bundled.start(fresh=True)
            logging.getLogger("typesense").info("Typesense pid %s on %s", bundled.pid, bundled.url)
        sqs = _sqs_client(dynamodb.endpoint_url)
        queue_url, _ = create_delivery_queues(sqs, settings.delivery_queue_name,
                                              visibility_timeout=DELIVERIES_TIMEOUT_SECONDS)
        function_environment = _function_environment(settings, dynamodb.endpoint_url, typesense,
                                                     typesense.create_search_key(), queue_url)
        os.environ.update(function_environment)
        if settings.function_environment_file:
            write_private(settings.function_environment_file, json.dumps(function_environment))

        # Imported after the environment is set: these read the settings on first use.
        from shared.eventbus import events_client
        from shared.local.seed import seed_demo_account
        from shared.repository.table import create_idempotency_table, create_table, dynamodb_client
        from shared.search.index import index_writer

        create_table(dynamodb_client(), settings.table_name)
        create_idempotency_table(dynamodb_client(), settings.idempotency_table_name)
        events_client().create_event_bus(Name=settings.event_bus_name)
        if external:
            index_writer().drop()
        index_writer().ensure_ready()
        demo = seed_demo_account()
        gateway = LocalGateway(settings.host, settings.port, settings.workers, settings.authorizer_cache_seconds,
                               max_workers=settings.max_workers)
        gateway.warm_up()
        stream_arn = dynamodb_client().describe_table(TableName=settings.table_name)["Table"]["LatestStreamArn"]
        # Two event source mappings on the stream, each with its own position and filter; the stream forgets a
        # change once both have it.
        trim = SharedTrim(["indexer", "events"],
                          lambda shard_id, sequence: dynamodb.trim_stream(stream_arn, shard_id, sequence))
        indexer = StreamPoller(_streams_client(dynamodb.endpoint_url), stream_arn,
                               lambda event: gateway.invoke(INDEXER_HANDLER, event), trim.consumed("indexer"))
        recorder = StreamPoller(_streams_client(dynamodb.endpoint_url), stream_arn,
                                lambda event: gateway.invoke(EVENTS_HANDLER, event), trim.consumed("events"),
                                accepts=is_record_or_trash_change)
        threading.Thread(target=indexer.run, args=(stop_polling,), name="stream-poller", daemon=True).start()
        threading.Thread(target=recorder.run, args=(stop_polling,), name="events-poller", daemon=True).start()
        # The deliveries worker, fed by the queue as the deployed SQS event source feeds it.
        deliveries = QueuePoller(sqs, queue_url, lambda event: gateway.invoke(DELIVERIES_HANDLER, event),
                                 batch_size=DELIVERY_BATCH_SIZE)
        threading.Thread(target=deliveries.run, args=(stop_polling,), name="delivery-poller", daemon=True).start()
        if bundled:
            threading.Thread(target=bundled.supervise, args=(stop_polling, _repair_index), name="typesense-supervisor",
                             daemon=True).start()
        base_url = f"http://{settings.host}:{gateway.port}"
        ready = {"baseUrl": base_url, "typesenseUrl": typesense.url, "typesensePid": bundled and bundled.pid, **demo}
        print(
            f"\nCRM API running on {base_url}\n"
            f"  DynamoDB {dynamodb.endpoint_url} (table {settings.table_name}), Typesense {typesense.url}\n"
            f"Demo account {demo['accountId']}, admin user {demo['userId']}, kanban {demo['kanbanId']}\n"
            f"Demo admin token: {demo['token']}\n\n"
            f"Try:\n  curl -s {base_url}/kanbans -H \"Authorization: Bearer {demo['token']}\"\n"
            f"  curl -s \"{base_url}/crm/search?q=john\" -H \"Authorization: Bearer {demo['token']}\"\n\n"
            f"READY {json.dumps(ready)}\n",
            flush=True,
        )
        gateway.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop_polling.set()
        if gateway is not None:
            gateway.shutdown()
        if bundled:
            bundled.stop()
        dynamodb.stop()


def _sqs_client(endpoint_url: str):
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _streams_client(endpoint_url: str):
    import boto3

    return boto3.client("dynamodbstreams", endpoint_url=endpoint_url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


if __name__ == "__main__":
    main()
