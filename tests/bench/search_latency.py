"""Search latency on a large index: one real Typesense server, 100,000 records loaded through
TypesenseIndexWriter.upsert, then a mix of queries through TypesenseSearchReader.search (the search
function's own call, scoped key included).

    python -m tests.bench.search_latency [--records 100000] [--batch-size 100] [--queries-per-kind 40]

Batches hold 100 records, as `crm-admin reindex` writes them.
"""

import argparse
import random
import string
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.local.typesense import TypesenseServer, free_port
from shared.logic.fields import index_entries
from shared.models.domain import FieldDefinition, Kanban, Record, StatusDefinition
from shared.search.index import SearchFilter, TypesenseIndexWriter, TypesenseSearchReader
from tests.bench import goals
from tests.bench.goals import GoalRow
from tests.bench.stats import percentile, summary_line

API_KEY = "bench-typesense-key"
ALIAS = "crm-records"
ACCOUNTS = 10
KANBANS_PER_ACCOUNT = 3
STATUSES = ("new", "contacted", "qualified", "closed")
SOURCES = ("Website", "Referral", "Social Media", "Cold Call", "Trade Show")
FIRST_NAMES = (
    "james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth",
    "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "carlos", "karen",
    "daniel", "nancy", "matthew", "lisa", "anthony", "sofia", "mark", "emma", "paulo", "ana",
    "wei", "mei", "hiroshi", "yuki", "ahmed", "fatima", "olga", "ivan", "lucas", "julia",
)
LAST_NAMES = (
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
    "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
    "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson",
    "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores",
    "silva", "santos", "oliveira", "tanaka", "suzuki", "kowalski", "novak", "schmidt", "muller", "rossi",
)
COMPANIES = (
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "wayne", "stark", "wonka", "tyrell",
    "cyberdyne", "soylent", "massive", "northwind", "contoso", "fabrikam", "tailspin", "litware", "adatum",
    "proseware", "wingtip", "lucerne", "margie", "fourthcoffee", "blueyonder", "alpine", "coho", "humongous",
)
TOPICS = ("Website Inquiry", "New Lead", "Demo Request", "Renewal", "Pricing Question", "Partnership",
          "Support Upgrade", "Referral", "Trial Signup", "Follow Up")
FIELDS = (
    FieldDefinition(id="field_email", name="Email", type="email", order=0),
    FieldDefinition(id="field_phone", name="Phone", type="phone", order=1),
    FieldDefinition(id="field_company", name="Company", type="text", order=2),
    FieldDefinition(id="field_source", name="Lead Source", type="select", options=SOURCES, order=3),
    FieldDefinition(id="field_value", name="Deal Value", type="currency", order=4),
)
QUERY_KINDS = ("word", "prefix", "typo", "email_substring", "phone_digits", "kanban_listing", "status_listing")
CREATED_FROM = 1_704_067_200_000
QUERY_SOURCES = 5000  # records (about 1 in 20) kept to build queries from
ID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Lead:
    """What a generated record holds that queries are built from."""

    account_id: str
    kanban_id: str
    last_name: str
    company: str
    email_local: str
    phone_digits: str


def _kanbans() -> dict[str, list[Kanban]]:
    statuses = tuple(StatusDefinition(value=s, label=s.title(), color="#1890ff") for s in STATUSES)
    kanbans: dict[str, list[Kanban]] = {}
    for a in range(ACCOUNTS):
        account_id = f"account_bench_{a}"
        kanbans[account_id] = [
            Kanban(kanban_id=f"kanban_bench_{a}_{k}", account_id=account_id, name=f"Pipeline {k}",
                   slug=f"pipeline-{k}", description="", order=k, statuses=statuses, fields=FIELDS,
                   created_at=CREATED_FROM, updated_at=CREATED_FROM, version=1)
            for k in range(KANBANS_PER_ACCOUNT)
        ]
    return kanbans


def generate_records(count: int, rng: random.Random) -> Iterator[tuple[Record, list[str], Lead]]:
    """Records spread over the accounts, kanbans and statuses, with the search values the table stores."""
    kanbans = _kanbans()
    account_ids = sorted(kanbans)
    for n in range(count):
        account_id = account_ids[n % ACCOUNTS]
        kanban = rng.choice(kanbans[account_id])
        first, last, company = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng.choice(COMPANIES)
        email_local = f"{first}.{last}{rng.randrange(100)}"
        phone = f"+1 ({rng.randrange(201, 990)}) {rng.randrange(200, 1000)}-{rng.randrange(10_000):04d}"
        custom_fields = {
            "field_email": f"{email_local}@{company}.com", "field_phone": phone,
            "field_company": f"{company.title()} Inc", "field_source": rng.choice(SOURCES),
            "field_value": rng.randrange(500, 100_000),
        }
        created_at = CREATED_FROM + n * 1000
        record_id = f"record_{created_at}_{''.join(rng.choices(ID_ALPHABET, k=9))}"
        record = Record(
            record_id=record_id, account_id=account_id, kanban_id=kanban.kanban_id,
            title=f"{first.title()} {last.title()} - {company.title()} {rng.choice(TOPICS)}",
            status=rng.choice(STATUSES), custom_fields=custom_fields,
            assigned_user_ids=tuple(rng.sample(("user_a", "user_b", "user_c", "user_d"), rng.randrange(3))),
            channel_id=None, created_at=created_at, updated_at=created_at, created_by="user_a",
            updated_by="user_a", version=1,
        )
        values = [value for _, value in index_entries(kanban, custom_fields)]
        digits = "".join(c for c in phone if c.isdigit())
        yield record, values, Lead(account_id, kanban.kanban_id, last, company, email_local, digits)


def load(index: TypesenseIndexWriter, count: int, batch_size: int, rng: random.Random) -> list[Lead]:
    """Upsert the generated records in batches; returns a sample of leads to build queries from."""
    leads: list[Lead] = []
    batch: list[tuple[Record, list[str]]] = []
    for record, values, lead in generate_records(count, rng):
        batch.append((record, values))
        if len(leads) < QUERY_SOURCES and rng.random() < 0.05:
            leads.append(lead)
        if len(batch) == batch_size:
            _upsert(index, batch)
    _upsert(index, batch)
    return leads


def _upsert(index: TypesenseIndexWriter, batch: list[tuple[Record, list[str]]]) -> None:
    if batch and (failed := index.upsert(batch)):
        raise RuntimeError(f"the index refused {len(failed)} records, such as {failed[0]}")
    batch.clear()


def _typo(word: str, rng: random.Random) -> str:
    """The word with two adjacent letters swapped (a different word)."""
    for _ in range(10):
        i = rng.randrange(1, len(word) - 1)
        typo = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        if typo != word:
            return typo
    return word[:-1] + ("x" if word[-1] != "x" else "y")


def make_query(kind: str, lead: Lead, rng: random.Random) -> tuple[str | None, SearchFilter]:
    """A query of one kind, built from a record that exists, as the search function would pass it."""
    everywhere = SearchFilter(account_id=lead.account_id, kanban_ids=None, status=None)
    if kind == "word":
        return lead.last_name, everywhere
    if kind == "prefix":
        return lead.company[:3], everywhere
    if kind == "typo":
        # Typesense allows no typo in words under 4 characters ("lee"): misspell the company then.
        return _typo(lead.last_name if len(lead.last_name) >= 4 else lead.company, rng), everywhere
    if kind == "email_substring":
        return lead.email_local.split(".")[1][2:], everywhere
    if kind == "phone_digits":
        return lead.phone_digits[-4:], everywhere
    if kind == "kanban_listing":
        return None, SearchFilter(account_id=lead.account_id, kanban_ids=[lead.kanban_id], status=None)
    if kind == "status_listing":
        return None, SearchFilter(account_id=lead.account_id, kanban_ids=None, status=rng.choice(STATUSES))
    raise ValueError(kind)


def typesense_memory(data_dir: Path) -> dict[str, int]:
    """VmRSS and VmHWM (KiB) of the Typesense process serving the given data directory."""
    marker = str(data_dir).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker not in (proc / "cmdline").read_bytes():
                continue
            status = (proc / "status").read_text().splitlines()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status if ":" in line)
        return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}
    raise RuntimeError(f"no Typesense process serves {data_dir}")


def time_queries(index: TypesenseSearchReader, leads: list[Lead], per_kind: int, warm_up: int,
            rng: random.Random) -> dict[str, list[tuple[float, int]]]:
    """(milliseconds, hits found) per query kind; kinds are interleaved, after a warm-up of each kind."""
    plan = [kind for kind in QUERY_KINDS for _ in range(per_kind)]
    rng.shuffle(plan)
    plan = [kind for kind in QUERY_KINDS for _ in range(warm_up)] + plan
    results: dict[str, list[tuple[float, int]]] = {kind: [] for kind in QUERY_KINDS}
    for n, kind in enumerate(plan):
        query, where = make_query(kind, rng.choice(leads), rng)
        started = time.perf_counter()
        page = index.search(query, where, 1, 20)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if n >= warm_up * len(QUERY_KINDS):
            results[kind].append((elapsed_ms, page.found))
    return results


def report(results: dict[str, list[tuple[float, int]]]) -> None:
    print("Search latency through TypesenseSearchReader.search (scoped key, page 1 of 20):")
    for kind, samples in results.items():
        times = [ms for ms, _ in samples]
        found = [hits for _, hits in samples]
        zero = sum(1 for hits in found if hits == 0)
        print(f"  {summary_line(kind, times)}  mean hits={sum(found) / len(found):8.1f}  no hits={zero}")
    print(f"  {summary_line('overall', [ms for samples in results.values() for ms, _ in samples])}")


def rows(results: dict[str, list[tuple[float, int]]], records: int, load_seconds: float,
         memory: dict[str, int]) -> list[GoalRow]:
    """Figures without a goal: the load, and the latency of each kind of query and of all."""
    note = f"{records:,} records; TypesenseSearchReader.search, scoped key, page 1 of 20"
    found = [GoalRow(
        "search latency: index load", f"{records / load_seconds:.0f} records/s",
        note=f"{records:,} records upserted in batches in {load_seconds:.0f} s; Typesense then VmRSS "
             f"{memory['VmRSS'] / 1024:.0f} MiB, VmHWM {memory['VmHWM'] / 1024:.0f} MiB")]
    times_by_kind = {kind: [ms for ms, _ in samples] for kind, samples in results.items()}
    times_by_kind["all kinds"] = [ms for times in times_by_kind.values() for ms in times]
    for kind, times in times_by_kind.items():
        found.append(GoalRow(f"search latency: {kind}", f"p50 {percentile(times, 50):.1f} ms, "
                             f"p95 {percentile(times, 95):.1f} ms", note=f"{note}; {len(times)} queries"))
    return found


def measure(records: int = 100_000, batch_size: int = 100, queries_per_kind: int = 40, warm_up: int = 5,
            seed: int = 7) -> list[GoalRow]:
    """Load a fresh Typesense server and time the queries; print the detail, return the rows."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as temp:
        data_dir = Path(temp) / "typesense"
        server = TypesenseServer(data_dir, free_port(), API_KEY).start(fresh=True)
        try:
            index = TypesenseIndexWriter(server.url, ALIAS, API_KEY, timeout=30)
            reader = TypesenseSearchReader(server.url, ALIAS, server.create_search_key(), timeout=30)
            index.ensure_ready()
            print(f"== search_latency: Typesense at {server.url}, {records} records, "
                  f"{ACCOUNTS} accounts x {KANBANS_PER_ACCOUNT} kanbans x {len(STATUSES)} statuses", flush=True)
            started = time.perf_counter()
            leads = load(index, records, batch_size, rng)
            load_seconds = time.perf_counter() - started
            memory = typesense_memory(data_dir)
            print(f"Load: {records} records via TypesenseIndexWriter.upsert (version-guarded, batches of "
                  f"{batch_size}) in {load_seconds:.1f} s ({records / load_seconds:.0f} records/s)")
            print(f"Typesense memory after loading: VmRSS {memory['VmRSS'] / 1024:.0f} MiB, "
                  f"VmHWM {memory['VmHWM'] / 1024:.0f} MiB")
            results = time_queries(reader, leads, queries_per_kind, warm_up, rng)
            report(results)
        finally:
            server.stop()
    return rows(results, records, load_seconds, memory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=100, help="records per upsert")
    parser.add_argument("--queries-per-kind", type=int, default=40)
    parser.add_argument("--warm-up", type=int, default=5, help="unmeasured queries of each kind first")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sys.exit(goals.report(measure(args.records, args.batch_size, args.queries_per_kind, args.warm_up, args.seed)))


if __name__ == "__main__":
    main()
