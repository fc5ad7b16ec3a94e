"""The SSRF guard: which URLs a webhook may target, and the addresses a delivery may connect to.

A target must be https on a host that resolves to public addresses only: no private, loopback,
link-local (169.254.169.254 among them), shared (CGNAT), unique-local IPv6, multicast, reserved or
unspecified address, whatever way the URL spells it (decimal or IPv4-mapped forms resolve to what they
are). The URL is checked when a webhook is created or changed, and its host is resolved and checked
again right before each delivery, which then connects to the address that was checked (DNS can change
in between). URLs with user info are refused outright. The local stack allows plain http to loopback
addresses (allow_local); nothing else.
"""

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as ResolutionTimedOut
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from shared.errors import ValidationFailed

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# getaddrinfo has no timeout of its own: a lookup that takes longer is a refusal, well inside the
# functions' time (an API request's budget, a delivery's 10 s).
RESOLVE_TIMEOUT_SECONDS = 3.0


class UnsafeTarget(ValidationFailed):
    """A webhook URL the guard refuses; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    """The host as the URL names it (without IPv6 brackets), for the Host header and TLS."""
    port: int
    path: str
    """Path and query, as sent in the request line."""


@dataclass(frozen=True)
class CheckedTarget:
    target: Target
    address: IpAddress
    """The address to connect to: one the host resolved to, every one of which was checked."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses a host resolves to (the boundary the tests replace)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@lru_cache(maxsize=1)
def _resolver_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


def _resolve_in_time(host: str, port: int) -> list[str]:
    return _resolver_pool().submit(lambda: resolve(host, port)).result(timeout=RESOLVE_TIMEOUT_SECONDS)


def parse(url: str, *, allow_local: bool = False) -> Target:
    """The URL's parts, or UnsafeTarget when its form is refused (before any lookup)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as invalid:
        raise UnsafeTarget(f"url: not a valid URL ({invalid})") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_local and scheme == "http"):
        raise UnsafeTarget("url: must be an https URL" + (" (or http, locally)" if allow_local else ""))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeTarget("url: must not carry user info (user:password@)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("url: has no host")
    if parts.fragment:
        raise UnsafeTarget("url: must not have a fragment (#...)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def refusal(address: IpAddress, *, allow_local: bool = False) -> str | None:
    """Why a delivery may not connect to this address, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if mapped is not None:
            return refusal(mapped, allow_local=allow_local)
    if address.is_loopback:
        return None if allow_local else "a loopback address"
    for kind, found in (("an unspecified", address.is_unspecified), ("a link-local", address.is_link_local),
                        ("a multicast", address.is_multicast), ("a private", address.is_private),
                        ("a reserved", address.is_reserved)):
        if found:
            return f"{kind} address"
    if not address.is_global:
        return "a non-public address"
    return None


def check(url: str, *, allow_local: bool = False) -> CheckedTarget:
    """Parse the URL, resolve its host and check every address; UnsafeTarget (a 400) if any is refused."""
    target = parse(url, allow_local=allow_local)
    try:
        literal: IpAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in _resolve_in_time(target.host, target.port)]
        except ResolutionTimedOut:
            raise UnsafeTarget(f"url: host {target.host} did not resolve within {RESOLVE_TIMEOUT_SECONDS:.0f} s") \
                from None
        except (OSError, UnicodeError, ValueError):
            raise UnsafeTarget(f"url: host {target.host} does not resolve") from None
        if not addresses:
            raise UnsafeTarget(f"url: host {target.host} does not resolve")
    for address in addresses:
        reason = refusal(address, allow_local=allow_local)
        if reason is not None:
            where = f"{target.host} is" if literal is not None else f"{target.host} resolves to {address},"
            raise UnsafeTarget(f"url: {where} {reason}; webhooks may only target public addresses")
    return CheckedTarget(target, addresses[0])
