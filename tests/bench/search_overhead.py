"""Search overhead: the whole search handler against the raw calls it cannot avoid.

One warm process (as a warm Lambda instance) with a real Typesense server holding N documents (10
accounts, loaded as tests.bench.search_latency loads them) and the embedded DynamoDB (moto's server,
the local stack's, on a socket) holding the searched account's records. For each query, side by side
and in alternating order:

- handler: GET /crm/search through functions.search.handler (the event API Gateway sends, the
  authorizer's context included): token, user and account check, rate limit, access scope, the search,
  the records read back, the response;
- raw: the same search request (same parameters, same scoped key) straight to Typesense with one
  kept-alive HTTP client, plus one DynamoDB BatchGetItem of the page's record ids.

Prints the medians and their ratio, and fails if the ratio is over 1.2.

    python -m tests.bench.search_overhead [--documents 100000] [--queries 200]
"""

import argparse
import logging
import os
import random
import secrets
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.local.typesense import TypesenseServer, free_port
from tests.bench import goals
from tests.bench.goals import GoalRow
from tests.bench.search_latency import generate_records, make_query
from tests.bench.stats import percentile

API_KEY = "bench-typesense-key"
ALIAS = "crm-records"
TABLE = "crm-bench"
BENCH_ACCOUNT = "account_bench_0"  # the generated account whose records the real account takes over
QUERY_KINDS = ("word", "prefix", "typo", "email_substring", "phone_digits")
PAGE_SIZE = 20
GOAL = 1.2


def _environment(dynamodb_url: str, typesense: TypesenseServer, search_key: str) -> None:
    os.environ.update({
        "TABLE_NAME": TABLE, "DYNAMODB_ENDPOINT_URL": dynamodb_url, "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "PAGINATION_SECRET": secrets.token_urlsafe(32), "TYPESENSE_NODES": typesense.url,
        "TYPESENSE_API_KEY": typesense.api_key, "TYPESENSE_SEARCH_KEY": search_key, "TYPESENSE_COLLECTION": ALIAS,
        "POWERTOOLS_LOG_LEVEL": "WARNING", "RATE_LIMIT_PER_MINUTE": "10000000", "RATE_LIMIT_PER_HOUR": "100000000",
    })


def load(documents: int, account_id: str, kanban: Any, rng: random.Random) -> list[Any]:
    """Index the generated documents (the bench account's as the real account's, on its default kanban)
    and write the real account's records to the table; returns leads of the real account to query."""
    from dataclasses import replace

    from shared.repository import records as repository
    from shared.search.index import index_writer

    writer = index_writer()
    writer.ensure_ready()
    batch: list[tuple[Any, list[str]]] = []
    owned: list[Any] = []
    leads = []
    for record, values, lead in generate_records(documents, rng):
        if record.account_id == BENCH_ACCOUNT:
            record = record.model_copy(update={"account_id": account_id, "kanban_id": kanban.kanban_id})
            owned.append(repository.NewRecord(record=record, kanban=kanban, entries=[], unique=[]))
            leads.append(replace(lead, account_id=account_id, kanban_id=kanban.kanban_id))
        batch.append((record, values))
        if len(batch) == 100:
            _index(writer, batch)
    _index(writer, batch)
    for group in repository.creation_groups(owned):
        repository.create_records([owned[i] for i in group])
    return leads


def _index(writer: Any, batch: list[tuple[Any, list[str]]]) -> None:
    if batch and (refused := writer.upsert(batch)):
        raise RuntimeError(f"the index refused {len(refused)} records, such as {refused[0]}")
    batch.clear()


def time_queries(token: str, account_id: str, leads: list[Any], queries: int, warm_up: int,
                 rng: random.Random) -> "Samples":
    """Timings of each query both ways, after warm-up queries that are not measured."""
    import httpx

    from functions.authorizer.handler import handler as authorize
    from functions.search.handler import handler as search_handler
    from shared.local.events import LambdaContext, authorizer_context, proxy_event, token_authorizer_event
    from shared.repository import keys
    from shared.repository.table import dynamodb_client
    from shared.search.index import search_parameters, search_reader
    from shared.settings import get_settings

    context = LambdaContext(function_name="search")
    policy = authorize(token_authorizer_event(f"Bearer {token}", "GET", "/crm/search"),
                       LambdaContext(function_name="authorizer"))
    authorizer = authorizer_context(policy)
    settings = get_settings()
    raw_http = httpx.Client(timeout=30)
    raw_key = search_reader().scoped_key(account_id)  # the same key the handler's reader sends
    search_url = f"{settings.typesense_nodes}/collections/{ALIAS}/documents/search"
    dynamodb = dynamodb_client()
    storage = _StorageClock(dynamodb)

    def through_handler(query: str, where: Any) -> int:
        event = proxy_event("GET", "/crm/search", query_string=urllib.parse.urlencode({"q": query}),
                            authorizer=authorizer)
        response = search_handler(event, context)
        if response["statusCode"] != 200:
            raise RuntimeError(f"the search handler answered {response['statusCode']}: {response['body']}")
        return len(response["body"])

    def raw(query: str, where: Any) -> int:
        response = raw_http.get(search_url, params=search_parameters(query, where, 1, PAGE_SIZE),
                                headers={"X-TYPESENSE-API-KEY": raw_key})
        response.raise_for_status()
        ids = [hit["document"]["recordId"] for hit in response.json()["hits"]]
        if ids:
            dynamodb.batch_get_item(RequestItems={settings.table_name: {
                "Keys": [{"PK": {"S": keys.record_pk(account_id, i)}, "SK": {"S": keys.RECORD_SK}} for i in ids],
                "ConsistentRead": True,
            }})
        return len(ids)

    samples = Samples()
    for n in range(warm_up + queries):
        query, where = make_query(rng.choice(QUERY_KINDS), rng.choice(leads), rng)
        assert query is not None
        timings = {}
        order = (through_handler, raw) if n % 2 else (raw, through_handler)
        for call in order:
            storage.reset()
            started = time.perf_counter()
            found = call(query, where)
            timings[call] = ((time.perf_counter() - started) * 1000, storage.calls, storage.ms)
            if call is raw and n >= warm_up:
                samples.hits += found
        if n >= warm_up:
            samples.handler_ms.append(timings[through_handler][0])
            samples.raw_ms.append(timings[raw][0])
            samples.handler_calls.append(timings[through_handler][1])
            samples.handler_outside_ms.append(timings[through_handler][0] - timings[through_handler][2])
            samples.raw_outside_ms.append(timings[raw][0] - timings[raw][2])
    return samples


@dataclass
class Samples:
    handler_ms: list[float] = field(default_factory=list)
    raw_ms: list[float] = field(default_factory=list)
    handler_calls: list[int] = field(default_factory=list)  # DynamoDB round trips of each handler request
    handler_outside_ms: list[float] = field(default_factory=list)  # its time outside DynamoDB calls
    raw_outside_ms: list[float] = field(default_factory=list)
    hits: int = 0


class _StorageClock:
    """DynamoDB round trips made through a client, and the time spent in them, since the last reset."""

    def __init__(self, client: Any):
        self.calls, self.ms, self._started = 0, 0.0, 0.0
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def reset(self) -> None:
        self.calls, self.ms = 0, 0.0

    def _before(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, **_: Any) -> None:
        self.calls += 1
        self.ms += (time.perf_counter() - self._started) * 1000


def measure(documents: int = 100_000, queries: int = 200, warm_up: int = 20, seed: int = 11,
            profile: bool = False) -> list[GoalRow]:
    """Load fresh services, time the queries both ways; print the detail, return the goal's row."""
    rng = random.Random(seed)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from shared.local.dynamodb import EmbeddedDynamoDB

    with tempfile.TemporaryDirectory(prefix="crm-bench-") as temp:
        typesense = TypesenseServer(Path(temp) / "typesense", free_port(), API_KEY).start(fresh=True)
        dynamodb = EmbeddedDynamoDB("127.0.0.1", free_port()).start()
        try:
            _environment(dynamodb.endpoint_url, typesense, typesense.create_search_key())
            # Imported once the environment is set: these read the settings on first use.
            from shared.logic.admin import bootstrap_account
            from shared.repository.kanbans import find_kanban
            from shared.repository.table import create_table, dynamodb_client

            create_table(dynamodb_client(), TABLE)
            account = bootstrap_account("Bench", "Bea", "bea@example.com")
            kanban = find_kanban(account["accountId"], account["kanbanId"])
            started = time.perf_counter()
            leads = load(documents, account["accountId"], kanban, rng)
            print(f"== search_overhead: {documents} documents in Typesense, {len(leads)} records of the "
                  f"searched account in DynamoDB (loaded in {time.perf_counter() - started:.0f} s)", flush=True)
            if profile:
                import cProfile
                import pstats

                profiler = cProfile.Profile()
                profiler.enable()
            samples = time_queries(account["token"], account["accountId"], leads, queries, warm_up, rng)
            if profile:
                profiler.disable()
                stats = pstats.Stats(profiler).sort_stats("cumulative")
                stats.print_stats("(shared|functions)/|powertools|botocore", 50)
        finally:
            dynamodb.stop()
            typesense.stop()

    handler_p50, raw_p50 = percentile(samples.handler_ms, 50), percentile(samples.raw_ms, 50)
    ratio = handler_p50 / raw_p50
    round_trips = sum(samples.handler_calls) / len(samples.handler_calls)
    print(f"  handler  p50={handler_p50:6.2f} ms  p95={percentile(samples.handler_ms, 95):6.2f} ms  "
          f"{round_trips:.1f} DynamoDB round trips; "
          f"outside them p50={percentile(samples.handler_outside_ms, 50):6.2f} ms")
    print(f"  raw      p50={raw_p50:6.2f} ms  p95={percentile(samples.raw_ms, 95):6.2f} ms  "
          f"1 BatchGetItem; the Typesense search p50={percentile(samples.raw_outside_ms, 50):6.2f} ms "
          f"({samples.hits / len(samples.raw_ms):.1f} hits a page)")
    return [GoalRow(
        "search overhead: handler / (raw Typesense + BatchGetItem)",
        f"{ratio:.2f}x (p50 {handler_p50:.1f} ms vs {raw_p50:.1f} ms)", f"<= {GOAL}x", ratio <= GOAL,
        f"{documents:,} documents, {len(samples.handler_ms)} queries side by side in one warm process; the "
        f"handler made {round_trips:.1f} DynamoDB round trips a request",
    )]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the measured queries (both ways)")
    args = parser.parse_args()
    sys.exit(goals.report(measure(args.documents, args.queries, args.warm_up, args.seed, args.profile)))


if __name__ == "__main__":
    main()
