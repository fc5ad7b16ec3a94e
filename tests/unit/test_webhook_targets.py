"""The SSRF guard on webhook URLs, signatures and the retry schedule: no I/O (the resolver is replaced
at the guard's boundary)."""

import random

import pytest

from shared.logic.deliveries import backoff_seconds
from shared.webhooks import signing, targets
from shared.webhooks.targets import UnsafeTarget

NAMES = {
    "hooks.example.com": ["93.184.216.34"],
    "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
    "private.example.com": ["192.168.1.20"],
    "loopback.example.com": ["127.0.0.1"],
    "metadata.example.com": ["169.254.169.254"],
    "ula.example.com": ["fd12:3456:789a::1"],
    "rebind.example.com": ["93.184.216.34", "10.0.0.1"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "cgnat.example.com": ["100.64.0.1"],
}


@pytest.fixture(autouse=True)
def resolver(monkeypatch):
    asked = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        if host not in NAMES:
            raise OSError("unknown name")
        return NAMES[host]

    monkeypatch.setattr(targets, "resolve", resolve)
    return asked


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/crm", "https://hooks.example.com:8443/crm?x=1", "https://93.184.216.34/x",
    "https://[2606:2800:220:1:248:1893:25c8:1946]/x", "https://v6.example.com/x", "HTTPS://HOOKS.EXAMPLE.COM./",
])
def test_public_https_targets_are_allowed(url):
    checked = targets.check(url)

    assert not checked.address.is_private and checked.target.scheme == "https"


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example.com/x", "must be an https URL"),
    ("ftp://hooks.example.com/x", "must be an https URL"),
    ("https://127.0.0.1/x", "loopback"),
    ("https://[::1]/x", "loopback"),
    ("https://0.0.0.0/x", "unspecified"),
    ("https://[::]/x", "unspecified"),
    ("https://10.0.0.1/x", "private"),
    ("https://172.16.5.4/x", "private"),
    ("https://192.168.0.1/x", "private"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[fe80::1]/x", "link-local"),
    ("https://[fd00::1]/x", "private"),
    ("https://224.0.0.1/x", "multicast"),
    ("https://[ff02::1]/x", "multicast"),
    ("https://[::ffff:127.0.0.1]/x", "loopback"),
    ("https://[::ffff:169.254.169.254]/x", "link-local"),
    ("https://private.example.com/x", "resolves to 192.168.1.20, a private address"),
    ("https://loopback.example.com/x", "resolves to 127.0.0.1, a loopback address"),
    ("https://metadata.example.com/x", "link-local"),
    ("https://ula.example.com/x", "private"),
    ("https://rebind.example.com/x", "resolves to 10.0.0.1"),
    ("https://mapped.example.com/x", "private"),
    ("https://cgnat.example.com/x", "address"),
    ("https://nowhere.example.com/x", "does not resolve"),
    ("https://user:pw@hooks.example.com/x", "user info"),
    ("https://hooks.example.com@10.0.0.1/x", "user info"),
    ("https://hooks.example.com:443@127.0.0.1/x", "user info"),
    ("https://hooks.example.com:99999/x", "not a valid URL"),
    ("https://hooks.example.com:abc/x", "not a valid URL"),
    ("https:///x", "has no host"),
])
def test_unsafe_targets_are_refused_with_the_reason(url, reason):
    with pytest.raises(UnsafeTarget) as refused:
        targets.check(url)

    assert reason in refused.value.message
    assert refused.value.status == 400


def test_numeric_spellings_of_loopback_are_what_they_resolve_to(monkeypatch):
    # The real resolver reads 2130706433 and 0x7f.1 as 127.0.0.1, and the guard checks what it returns.
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["127.0.0.1"])

    for url in ("https://2130706433/x", "https://0x7f.1/x", "https://017700000001/x"):
        with pytest.raises(UnsafeTarget, match="loopback"):
            targets.check(url)


def test_the_port_given_is_resolved_and_connected_to(resolver):
    checked = targets.check("https://hooks.example.com:8443/a/b?c=d")

    assert resolver == [("hooks.example.com", 8443)]
    assert (checked.target.host, checked.target.port, checked.target.path) == ("hooks.example.com", 8443, "/a/b?c=d")
    assert str(checked.address) == "93.184.216.34"


def test_locally_http_to_loopback_is_allowed_and_nothing_else():
    assert str(targets.check("http://127.0.0.1:9000/hook", allow_local=True).address) == "127.0.0.1"
    assert str(targets.check("http://loopback.example.com/hook", allow_local=True).address) == "127.0.0.1"
    for url in ("http://10.0.0.1/x", "http://169.254.169.254/x", "http://private.example.com/x"):
        with pytest.raises(UnsafeTarget):
            targets.check(url, allow_local=True)
    with pytest.raises(UnsafeTarget, match="loopback"):
        targets.check("https://127.0.0.1/x")


def test_a_signature_verifies_only_with_its_secret_body_and_time():
    secret = signing.new_secret()
    body = b'{"id":"evt_1","type":"ping"}'
    header = signing.signature(secret, 1_700_000_000, body)

    assert header.startswith("t=1700000000,v1=") and len(header.split("v1=")[1]) == 64
    assert signing.verify(secret, header, body, now=1_700_000_000 + 299)
    assert not signing.verify(secret, header, body, now=1_700_000_000 + 301)
    assert not signing.verify(secret, header, body + b" ", now=1_700_000_000)
    assert not signing.verify(signing.new_secret(), header, body, now=1_700_000_000)
    assert not signing.verify(secret, "v1=abc", body, now=1_700_000_000)


def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(7)
    delays = [backoff_seconds(n, 30, 7200, rng) for n in range(1, 13)]

    for n, delay in enumerate(delays, start=1):
        ceiling = min(7200, 30 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 7200
    # Over the 24-hour window that makes roughly 15 to 25 attempts.
    total, attempts = 0.0, 0
    while total < 86400:
        attempts += 1
        total += backoff_seconds(attempts, 30, 7200, rng)
    assert 12 <= attempts <= 30


def test_a_lookup_that_hangs_is_a_refusal_not_a_timeout_of_the_function(monkeypatch):
    import threading

    release = threading.Event()
    monkeypatch.setattr(targets, "RESOLVE_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(targets, "resolve", lambda host, port: release.wait(5) or ["93.184.216.34"])

    try:
        with pytest.raises(UnsafeTarget, match="did not resolve within"):
            targets.check("https://slow.example.com/x")
    finally:
        release.set()
