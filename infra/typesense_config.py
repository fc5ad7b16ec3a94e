"""Where the search functions find Typesense, read from CDK context.

- `typesenseNodes`: the cluster's node URLs, comma-separated (or a JSON list in cdk.json),
  e.g. "https://xyz-1.a1.typesense.net,https://xyz-2.a1.typesense.net,https://xyz-3.a1.typesense.net".
- `typesenseApiKeySecret`: the name or complete ARN of an existing Secrets Manager secret holding
  the Typesense keys as JSON {"apiKey": "<admin key>", "searchKey": "<search-only key>"}. Without it
  the stack creates that secret with placeholder values, to be filled in after deploying.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

NODES_CONTEXT_KEY = "typesenseNodes"
API_KEY_SECRET_CONTEXT_KEY = "typesenseApiKeySecret"
# A reserved, never-resolving host: synthesis works without configuration, and a stack deployed
# without it fails visibly at the first search instead of talking to somebody else's server.
DEFAULT_NODES = ("https://typesense.example.invalid",)


@dataclass(frozen=True)
class TypesenseConfig:
    nodes: tuple[str, ...] = DEFAULT_NODES
    api_key_secret: str | None = None
    """Name or ARN of an existing secret; None: the stack creates one."""

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
        secret = get(API_KEY_SECRET_CONTEXT_KEY)
        return cls(nodes=nodes or DEFAULT_NODES, api_key_secret=(str(secret).strip() or None) if secret else None)
