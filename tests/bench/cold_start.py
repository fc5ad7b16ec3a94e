"""Cold starts: each function's init and first response against the floor of any Python function that
reads DynamoDB with pydantic models.

Every sample is a new Python process (a cold Lambda instance). Inside it, timed from its first line so
that the interpreter's own start (the same for all) is left out:

- floor: `import boto3; boto3.client("dynamodb"); import pydantic` is its init; one GetItem then is its
  first response;
- a function: importing its handler module and creating the DynamoDB client it uses is its init; the
  first event it answers (a GET of its route group, the token check for the authorizer, one stream
  record for the indexer) ends its first response.

Floor and functions are sampled in alternating rounds on the same embedded DynamoDB (moto's server) and
Typesense, so both see the same machine; the ratios of the medians are reported.

    python -m tests.bench.cold_start [--rounds 15]
"""

import argparse
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.bench.goals import GoalRow, report
from tests.bench.stats import percentile

INIT_GOAL = 1.2
FIRST_RESPONSE_GOAL = 1.3
TABLE = "crm-bench"
FRAMEWORK = "powertools resolver alone"
REPO = Path(__file__).resolve().parents[2]

# What each sampled function answers first: a request of its route group, or its own kind of event.
REQUESTS = {
    "records": ("GET", "/crm/records", ""),
    "search": ("GET", "/crm/search", "q=jonh"),
    "kanbans": ("GET", "/kanbans", ""),
    "meta": ("GET", "/crm/fields", ""),
    "admin": ("GET", "/users", ""),
    "changes": ("GET", "/crm/changes", ""),
    "webhooks": ("GET", "/webhooks", ""),
}

FLOOR = """
import time
started = time.perf_counter()
import boto3
client = boto3.client("dynamodb", endpoint_url={endpoint!r})
import pydantic
initialised = time.perf_counter()
client.get_item(TableName={table!r}, Key={{"PK": {{"S": "floor"}}, "SK": {{"S": "floor"}}}})
answered = time.perf_counter()
print(initialised - started, answered - started)
"""

# The least any function of this design does: the floor, plus Powertools' REST resolver with validation
# answering one route with one pydantic model from one GetItem.
FRAMEWORK_FLOOR = """
import json, sys, time
started = time.perf_counter()
import boto3
client = boto3.client("dynamodb", endpoint_url={endpoint!r})
import pydantic
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

class Item(pydantic.BaseModel):
    found: bool

app = APIGatewayRestResolver(enable_validation=True)
logger = Logger(service="floor")

@app.get("/crm/records")
def read() -> Item:
    got = client.get_item(TableName={table!r}, Key={{"PK": {{"S": "floor"}}, "SK": {{"S": "floor"}}}})
    return Item(found="Item" in got)

initialised = time.perf_counter()
from shared.local.events import LambdaContext
answer = app.resolve(json.loads(sys.stdin.read()), LambdaContext(function_name="floor"))
answered = time.perf_counter()
print(initialised - started, answered - started)
print(json.dumps(answer), file=sys.stderr)
"""

FUNCTION = """
import json, sys, time
started = time.perf_counter()
from functions.{name}.handler import handler
from shared.repository.table import dynamodb_client
dynamodb_client()
initialised = time.perf_counter()
from shared.local.events import LambdaContext
answer = handler(json.loads(sys.stdin.read()), LambdaContext(function_name={name!r}))
answered = time.perf_counter()
print(initialised - started, answered - started)
print(json.dumps(answer), file=sys.stderr)
"""


def sample(script: str, event: Any = None) -> tuple[float, float, str]:
    """One cold process: its init and first-response times in ms, and what it answered (stderr)."""
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(event), capture_output=True,
                          text=True, cwd=REPO, env=os.environ, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"a cold process failed:\n{done.stderr[-3000:]}")
    init_s, first_s = (float(x) for x in done.stdout.split())
    return init_s * 1000, first_s * 1000, done.stderr


def events(token: str, record_pk: dict[str, Any]) -> dict[str, Any]:
    """The first event of each function (the authorizer's answer is the API events' context)."""
    from functions.authorizer.handler import handler as authorize
    from shared.local.events import LambdaContext, authorizer_context, proxy_event, token_authorizer_event
    from shared.repository.table import dynamodb_client

    authorization = token_authorizer_event(f"Bearer {token}", "GET", "/crm/records")
    context = authorizer_context(authorize(authorization, LambdaContext(function_name="authorizer")))
    chosen = {name: proxy_event(method, path, query_string=query, authorizer=context)
              for name, (method, path, query) in REQUESTS.items()}
    chosen["authorizer"] = authorization
    image = dynamodb_client().get_item(TableName=TABLE, Key=record_pk)["Item"]
    chosen["indexer"] = {"Records": [{
        "eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/stream/2026",
        "dynamodb": {"Keys": record_pk, "NewImage": image, "SequenceNumber": "1", "SizeBytes": 100,
                     "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }]}
    return chosen


def measure(rounds: int) -> list[GoalRow]:
    """Start the embedded services, sample floor and functions alternately, and compare medians."""
    from shared.local.dynamodb import EmbeddedDynamoDB
    from shared.local.typesense import TypesenseServer, free_port

    with tempfile.TemporaryDirectory(prefix="crm-cold-") as temp:
        typesense = TypesenseServer(Path(temp) / "typesense", free_port(), "bench-key").start(fresh=True)
        dynamodb = EmbeddedDynamoDB("127.0.0.1", free_port()).start()
        try:
            os.environ.update({
                "TABLE_NAME": TABLE, "DYNAMODB_ENDPOINT_URL": dynamodb.endpoint_url, "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                "PAGINATION_SECRET": secrets.token_urlsafe(32), "TYPESENSE_NODES": typesense.url,
                "TYPESENSE_API_KEY": typesense.api_key, "TYPESENSE_SEARCH_KEY": typesense.create_search_key(),
                "POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_NAMESPACE": "bench",
            })
            first_events = _seed()
            return _compare(dynamodb.endpoint_url, first_events, rounds)
        finally:
            dynamodb.stop()
            typesense.stop()


def _seed() -> dict[str, Any]:
    """An account with one record; the first events of its token."""
    from shared.logic.access import authenticate
    from shared.logic.admin import bootstrap_account
    from shared.logic.records import create_record
    from shared.models.api import CreateRecordRequest
    from shared.repository import keys
    from shared.repository.table import create_table, dynamodb_client
    from shared.search.index import index_writer

    create_table(dynamodb_client(), TABLE)
    index_writer().ensure_ready()
    account = bootstrap_account("Bench", "Bea", "bea@example.com")
    principal, _ = authenticate(f"Bearer {account['token']}")
    record, _ = create_record(principal, None, CreateRecordRequest(title="John Doe", status="new"))
    record_pk = {"PK": {"S": keys.record_pk(account["accountId"], record.record_id)}, "SK": {"S": keys.RECORD_SK}}
    return events(account["token"], record_pk)


def _compare(endpoint: str, first_events: dict[str, Any], rounds: int) -> list[GoalRow]:
    floor_script = FLOOR.format(endpoint=endpoint, table=TABLE)
    framework_script = FRAMEWORK_FLOOR.format(endpoint=endpoint, table=TABLE)
    floor: list[tuple[float, float]] = []
    functions: dict[str, list[tuple[float, float]]] = {name: [] for name in [*first_events, FRAMEWORK]}
    for _ in range(rounds):
        for name, event in first_events.items():
            floor.append(sample(floor_script)[:2])
            init_ms, first_ms, answer = sample(FUNCTION.format(name=name), event)
            _check(name, answer)
            functions[name].append((init_ms, first_ms))
        init_ms, first_ms, answer = sample(framework_script, first_events["records"])
        _check(FRAMEWORK, answer)
        functions[FRAMEWORK].append((init_ms, first_ms))
    floor_init = percentile([s[0] for s in floor], 50)
    floor_first = percentile([s[1] for s in floor], 50)
    rows = [GoalRow("cold start: floor", f"init {floor_init:.0f} ms, first response {floor_first:.0f} ms",
                    note="boto3 + DynamoDB client + pydantic; then one GetItem")]
    for name, samples in functions.items():
        init_ratio = percentile([s[0] for s in samples], 50) / floor_init
        first_ratio = percentile([s[1] for s in samples], 50) / floor_first
        figure = f"init {init_ratio:.2f}x, first response {first_ratio:.2f}x"
        if name == FRAMEWORK:
            rows.append(GoalRow(f"cold start: {name}", figure, note=(
                "the least a function of this design can do: the floor, Powertools' REST resolver with "
                "validation, one route, one model, one GetItem")))
            continue
        rows.append(GoalRow(f"cold start: {name}", figure, goal=f"<= {INIT_GOAL}x, <= {FIRST_RESPONSE_GOAL}x",
                            met=init_ratio <= INIT_GOAL and first_ratio <= FIRST_RESPONSE_GOAL,
                            note=f"median of {len(samples)} cold processes, against the floor's"))
    return rows


def _check(name: str, answer: str) -> None:
    """A sample counts only if the function answered its event as it should."""
    result = json.loads(answer.strip().splitlines()[-1])
    if name == "authorizer":
        ok = result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    elif name == "indexer":
        ok = result == {"batchItemFailures": []}
    else:
        ok = result["statusCode"] == 200
    if not ok:
        raise RuntimeError(f"{name} answered its first event with {answer[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    sys.exit(report(measure(parser.parse_args().rounds)))


if __name__ == "__main__":
    main()
