"""`make run`: the whole local stack in one process tree.

Embedded DynamoDB (moto server) -> table from the shared definition -> demo account -> the local
API Gateway on http://127.0.0.1:3000 with every route group's handler.
"""

import json
import logging
import os
import secrets
import signal
import sys

from pydantic import BaseModel, Field

from shared.local.dynamodb import EmbeddedDynamoDB
from shared.local.gateway import LocalGateway
from shared.routes import AUTHORIZER_CACHE_SECONDS


class LocalStackSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=3000, alias="PORT")
    dynamodb_port: int = Field(default=8000, alias="DYNAMODB_PORT")
    workers: int = Field(default=4, alias="LOCAL_WORKERS", ge=1, le=32)
    authorizer_cache_seconds: float = Field(
        default=AUTHORIZER_CACHE_SECONDS, alias="AUTHORIZER_CACHE_SECONDS", ge=0, le=3600
    )
    table_name: str = Field(default="crm-local", alias="TABLE_NAME")


def _function_environment(settings: LocalStackSettings, endpoint_url: str) -> dict[str, str]:
    """What the functions' settings read; the workers inherit it."""
    return {
        "TABLE_NAME": settings.table_name,
        "DYNAMODB_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "PAGINATION_SECRET": secrets.token_urlsafe(32),
        "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
    }


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = LocalStackSettings.model_validate(dict(os.environ))
    dynamodb = EmbeddedDynamoDB(settings.host, settings.dynamodb_port).start()
    os.environ.update(_function_environment(settings, dynamodb.endpoint_url))

    # Imported after the environment is set: these read the settings on first use.
    from shared.local.seed import seed_demo_account
    from shared.repository.table import create_table, dynamodb_client

    create_table(dynamodb_client(), settings.table_name)
    demo = seed_demo_account()
    gateway = LocalGateway(settings.host, settings.port, settings.workers, settings.authorizer_cache_seconds)
    gateway.warm_up()
    signal.signal(signal.SIGTERM, _stop)
    base_url = f"http://{settings.host}:{gateway.port}"
    print(
        f"\nCRM API running on {base_url}  (DynamoDB: {dynamodb.endpoint_url}, table {settings.table_name})\n"
        f"Demo account {demo['accountId']}, admin user {demo['userId']}, kanban {demo['kanbanId']}\n"
        f"Demo admin token: {demo['token']}\n\n"
        f"Try:\n  curl -s {base_url}/kanbans -H \"Authorization: Bearer {demo['token']}\"\n\n"
        f"READY {json.dumps({'baseUrl': base_url, **demo})}\n",
        flush=True,
    )
    try:
        gateway.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.shutdown()
        dynamodb.stop()


if __name__ == "__main__":
    main()
