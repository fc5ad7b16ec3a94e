"""A delivery connects to the address the SSRF guard checked, yet TLS still verifies the URL's host
name: a real TLS server on 127.0.0.1 with a certificate for hooks.test (and one for another name)."""

import ipaddress
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.webhooks import sender
from shared.webhooks.targets import CheckedTarget, Target


def _certificate(directory, name: str) -> tuple[str, str]:
    cert, key = str(directory / f"{name}.pem"), str(directory / f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_receiver(tmp_path):
    cert, key = _certificate(tmp_path, "hooks.test")
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(dict(self.headers.items()))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert, seen
    server.shutdown()


def _trusting(cert: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cert)
    return context


def test_tls_to_the_checked_address_verifies_the_host_name(tls_receiver, monkeypatch):
    port, cert, seen = tls_receiver
    monkeypatch.setattr(sender, "_client", lambda: sender.build_client(verify=_trusting(cert)))
    checked = CheckedTarget(Target("https", "hooks.test", port, "/crm"), ipaddress.ip_address("127.0.0.1"))

    outcome = sender.post(checked, b"{}", {"Content-Type": "application/json"})

    assert outcome == sender.Outcome(204, None)
    assert seen[0]["Host"] == f"hooks.test:{port}"


def test_a_certificate_for_another_name_is_refused(tls_receiver, tmp_path, monkeypatch):
    port, cert, seen = tls_receiver
    monkeypatch.setattr(sender, "_client", lambda: sender.build_client(verify=_trusting(cert)))
    checked = CheckedTarget(Target("https", "other.test", port, "/crm"), ipaddress.ip_address("127.0.0.1"))

    outcome = sender.post(checked, b"{}", {"Content-Type": "application/json"})

    assert outcome.status_code is None and outcome.error.startswith("could not connect")
    assert seen == []
