"""`crm-admin`: operator commands that run against the table directly.

With no connection options it targets the local stack of `make run`; --endpoint-url, --table-name and
--region target any other table (a deployed one, with the caller's AWS credentials).
"""

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.errors import DomainError
from shared.settings import Settings, from_environment, settings_in_use

LOCAL_TABLE = "crm-local"


def command_settings(args: argparse.Namespace) -> Settings:
    """The settings a command runs with: the chosen table (and search index), from its options, over
    the environment's other settings. The environment is only read, never written."""
    local = args.endpoint_url is None and args.table_name is None
    endpoint = args.endpoint_url or (f"http://127.0.0.1:{os.environ.get('DYNAMODB_PORT', '8000')}" if local else None)
    fields: dict[str, Any] = {"table_name": args.table_name or LOCAL_TABLE, "aws_region": args.region,
                              "dynamodb_endpoint_url": endpoint}
    if hasattr(args, "collection"):
        fields |= _search_fields(args)
    return from_environment(**fields)


@contextmanager
def _connected(args: argparse.Namespace) -> Iterator[None]:
    """Run a command with its settings installed (shared.settings.use_settings), then the earlier ones
    again, with no client left built from either."""
    with settings_in_use(command_settings(args)):
        _reset_caches()
        try:
            yield
        finally:
            _reset_caches()


def _reset_caches() -> None:
    """Drop the clients built from the settings in use until now."""
    from shared.repository.table import dynamodb_client
    from shared.search.index import index_writer

    dynamodb_client.cache_clear()
    index_writer.cache_clear()


def _bootstrap(args: argparse.Namespace) -> dict:
    from shared.logic.admin import bootstrap_account

    return bootstrap_account(args.account_name, args.admin_name, args.admin_email, args.usage_plan_id)


def _usage_plan(args: argparse.Namespace) -> dict:
    from shared.logic.admin import attach_usage_plan

    return attach_usage_plan(args.account_id, args.usage_plan_id)


def _limits(args: argparse.Namespace) -> dict:
    from shared.logic import rate_limits

    if args.action == "show":
        return rate_limits.show(args.account_id)
    if args.action == "reset":
        return rate_limits.reset_limits(args.account_id)
    if args.per_minute is None and args.per_hour is None:
        raise SystemExit("crm-admin limits set: give --per-minute, --per-hour or both")
    return rate_limits.set_limits(args.account_id, args.per_minute, args.per_hour)


def _progress_bar(phase: str, done: int, total: int) -> None:
    width = 40
    filled = int(width * done / total) if total else width
    percent = 100 * done // total if total else 100
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r{phase:>8} [{'#' * filled}{'.' * (width - filled)}] {percent:3d}% {done}/{total} records{end}")
    sys.stderr.flush()


def _search_index(args: argparse.Namespace):
    """The index the options name; by default the local stack's Typesense (TYPESENSE_URL when it uses
    one of its own, else the bundled server on TYPESENSE_PORT)."""
    from shared.search.index import index_writer

    index_writer.cache_clear()
    return index_writer()


def _search_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of the index the search options name (see _search_index for the defaults)."""
    from shared.local.typesense import LOCAL_TYPESENSE_API_KEY

    fields: dict[str, Any] = {
        "typesense_nodes": args.typesense_nodes or os.environ.get("TYPESENSE_NODES") or os.environ.get("TYPESENSE_URL")
        or f"http://127.0.0.1:{os.environ.get('TYPESENSE_PORT', '8108')}",
        "typesense_collection": args.collection,
    }
    if args.typesense_api_key_secret_arn:
        fields |= {"typesense_api_key_secret_arn": args.typesense_api_key_secret_arn, "typesense_api_key": None}
    elif not os.environ.get("TYPESENSE_API_KEY") and not os.environ.get("TYPESENSE_API_KEY_SECRET_ARN"):
        fields["typesense_api_key"] = LOCAL_TYPESENSE_API_KEY
    return fields


def _reindex(args: argparse.Namespace) -> dict:
    from shared.logic.indexing import rebuild

    return rebuild(_search_index(args), _progress_bar)


def _verify_index(args: argparse.Namespace) -> dict:
    from shared.logic.index_verification import verify

    return verify(_search_index(args), args.account_id, args.repair)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--endpoint-url", help="DynamoDB endpoint (default: the local stack's)")
    connection.add_argument("--table-name", help=f"table name (default: {LOCAL_TABLE}, the local stack's)")
    connection.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"), help="AWS region")
    commands = parser.add_subparsers(dest="command", required=True)

    bootstrap = commands.add_parser(
        "bootstrap", parents=[connection],
        help="create an account with its admin user, a default kanban and an admin token (printed as JSON)",
    )
    bootstrap.add_argument("--account-name", required=True)
    bootstrap.add_argument("--admin-name", default="Administrator")
    bootstrap.add_argument("--admin-email", default="admin@example.com")
    bootstrap.add_argument("--usage-plan-id", default=os.environ.get("USAGE_PLAN_ID"),
                           help="the deployed stack's UsagePlanId output: gives the account its API key there")
    bootstrap.set_defaults(run=_bootstrap)

    search = argparse.ArgumentParser(add_help=False)
    search.add_argument("--typesense-nodes", help="comma-separated Typesense URLs (default: TYPESENSE_NODES, "
                        "else the local stack's: TYPESENSE_URL or http://127.0.0.1:${TYPESENSE_PORT:-8108})")
    search.add_argument("--typesense-api-key-secret-arn",
                        help="Secrets Manager secret holding the Typesense admin key "
                             "(default: TYPESENSE_API_KEY, or the local stack's key)")
    search.add_argument("--collection", default=os.environ.get("TYPESENSE_COLLECTION", "crm-records"),
                        help="the alias searches read (default: crm-records)")

    reindex = commands.add_parser(
        "reindex", parents=[connection, search],
        help="rebuild the search index from the table into a new collection and switch the alias to it",
    )
    reindex.set_defaults(run=_reindex)

    verify_index = commands.add_parser(
        "verify-index", parents=[connection, search],
        help="compare the table's records with the search index, per account, and list the differences "
             "(missing from the index, stale in the index, not in the table); --repair fixes them",
    )
    verify_index.add_argument("--account-id", help="check only this account (default: every account)")
    verify_index.add_argument("--repair", action="store_true", help="fix the differences found")
    verify_index.set_defaults(run=_verify_index)

    limits = commands.add_parser(
        "limits", parents=[connection],
        help="show, set or reset an account's rate limits (they take effect within a minute)",
    )
    limits.add_argument("action", choices=["show", "set", "reset"])
    limits.add_argument("--account-id", required=True)
    limits.add_argument("--per-minute", type=_positive, help="requests per minute (default 120)")
    limits.add_argument("--per-hour", type=_positive, help="requests per hour (default 3,000)")
    limits.set_defaults(run=_limits)

    usage_plan = commands.add_parser(
        "usage-plan", parents=[connection],
        help="give an existing account its API key in the deployed API's usage plan",
    )
    usage_plan.add_argument("--account-id", required=True)
    usage_plan.add_argument("--usage-plan-id", required=True, help="the stack's UsagePlanId output")
    usage_plan.set_defaults(run=_usage_plan)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _connected(args):
            result = args.run(args)
    except DomainError as error:
        print(f"crm-admin: {error.message}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
