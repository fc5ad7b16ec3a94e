"""Sends one signed delivery over HTTP to an address the SSRF guard checked, and reports the outcome."""

import contextlib
import ipaddress
import ssl
from dataclasses import dataclass
from functools import lru_cache

import httpx

from shared.webhooks.targets import CheckedTarget

# Any 2xx within this time is a success.
TIMEOUT_SECONDS = 10.0
USER_AGENT = "crm-records-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    """The receiver's status; None when it did not answer."""
    error: str | None
    """Why the attempt failed; None for a 2xx."""

    @property
    def succeeded(self) -> bool:
        return self.error is None


def build_client(verify: ssl.SSLContext | bool = True) -> httpx.Client:
    """No redirects (a 3xx is a failure, never followed to an unchecked host) and no proxies from the
    environment: the connection goes to the checked address and nowhere else. TLS verifies the
    certificate against the URL's host name (sent as SNI), not against the address connected to."""
    return httpx.Client(timeout=httpx.Timeout(TIMEOUT_SECONDS), follow_redirects=False, trust_env=False,
                        headers={"User-Agent": USER_AGENT}, verify=verify)


@lru_cache(maxsize=1)
def _client() -> httpx.Client:
    return build_client()


def post(checked: CheckedTarget, body: bytes, headers: dict[str, str]) -> Outcome:
    target = checked.target
    address = checked.address
    literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    if target.port != default_port:
        host_header += f":{target.port}"
    url = f"{target.scheme}://{literal}:{target.port}{target.path}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request = _client().build_request("POST", url, content=body, extensions=extensions,
                                      headers={**headers, "Host": host_header})
    try:
        response = _client().send(request, stream=True)
    except httpx.TimeoutException:
        return Outcome(None, f"no answer within {TIMEOUT_SECONDS:.0f} s")
    except httpx.HTTPError as error:
        return Outcome(None, f"could not connect: {type(error).__name__}")
    with contextlib.suppress(httpx.HTTPError):
        response.close()  # the body is not read: only the status matters
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    return Outcome(response.status_code, f"the receiver answered {response.status_code}")
