"""Where the search functions find Typesense, read from CDK context.

- `typesenseNodes`: the cluster's node URLs, comma-separated (or a JSON list in cdk.json),
  e.g. "https://xyz-1.a1.typesense.net,https://xyz-2.a1.typesense.net,https://xyz-3.a1.typesense.net".
- `typesenseApiKeySecret`: the name or complete ARN of an existing Secrets Manager secret holding the
  Typesense admin key (only the indexer reads it).
- `typesenseSearchKeySecret`: the same for a search-only key (only the search function reads it; it
  derives a scoped key per account from it).
Without them the stack creates the secrets with placeholder values, to be set after deploying.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

NODES_CONTEXT_KEY = "typesenseNodes"
API_KEY_SECRET_CONTEXT_KEY = "typesenseApiKeySecret"
SEARCH_KEY_SECRET_CONTEXT_KEY = "typesenseSearchKeySecret"
# A reserved, never-resolving host: synthesis works without configuration, and a stack deployed
# without it fails visibly at the first search instead of talking to somebody else's server.
DEFAULT_NODES = ("https://typesense.example.invalid",)


@dataclass(frozen=True)
class TypesenseConfig:
    nodes: tuple[str, ...] = DEFAULT_NODES
    api_key_secret: str | None = None
    """Name or ARN of an existing secret with the admin key; None: the stack creates one."""
    search_key_secret: str | None = None
    """Name or ARN of an existing secret with the search-only key; None: the stack creates one."""

    @property
    def uses_default_nodes(self) -> bool:
        return self.nodes == DEFAULT_NODES

    @property
    def nodes_value(self) -> str:
        """The TYPESENSE_NODES environment value."""
        return ",".join(self.nodes)

    @classmethod
    def from_context(cls, get: Any) -> "TypesenseConfig":
        """Build from a context getter such as `node.try_get_context`."""
        raw = get(NODES_CONTEXT_KEY)
        items = raw.split(",") if isinstance(raw, str) else list(raw or ())
        nodes = tuple(str(n).strip().rstrip("/") for n in items if str(n).strip())
        for node in nodes:
            url = urlsplit(node)
            if url.scheme not in ("http", "https") or not url.hostname:
                raise ValueError(f"context {NODES_CONTEXT_KEY}: {node!r} is not an http(s) URL")
        def secret(key: str) -> str | None:
            value = get(key)
            return (str(value).strip() or None) if value else None

        return cls(nodes=nodes or DEFAULT_NODES, api_key_secret=secret(API_KEY_SECRET_CONTEXT_KEY),
                   search_key_secret=secret(SEARCH_KEY_SECRET_CONTEXT_KEY))
