"""The outbound policy (plugin/egress.py): what a tenant-set URL may reach, through the HTTP contract and real sockets.

Every address form below is one a tenant tried (issue 11, finding 2) or one the resolver reads as such an address:
the refusal must not depend on how the address is spelled.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import socket
import ssl
import threading
from contextlib import contextmanager

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import g

from plugin import egress
from plugin.admin import account_settings
from plugin.admin.users import create_admin
from plugin.models import Account
from plugin.services import services
from tests.admin.conftest import PASSWORD, csrf_of, sign_in
from tests.conftest import Helpdesk, nonce_of, rating_links
from tests.support.servers import HTTPRecorder, Reply

# (URL, why it is refused). Literal spellings are read by the system resolver exactly as requests would read them.
REFUSED = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.255.255.254:8080/x", "loopback"),
    ("http://localhost/", "loopback"),  # a DNS name resolving to loopback (/etc/hosts)
    ("http://LocalHost:8000/", "loopback"),
    ("http://2130706433/", "loopback"),  # decimal
    ("http://0x7f000001/", "loopback"),  # hex
    ("http://0177.0.0.1/", "loopback"),  # octal
    ("http://0x7f.1/", "loopback"),  # mixed short form
    ("http://127.1/", "loopback"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.5.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "private"),  # reserved: Python counts 240/4 as private
    ("http://255.255.255.255/", "private"),  # broadcast
    ("http://198.18.0.1/", "private"),  # benchmarking
    ("http://[::1]/", "loopback"),
    ("http://[::]/", "unspecified"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fc00::1]/", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://[::ffff:7f00:1]/", "IPv4-mapped"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped"),
    ("http://[::127.0.0.1]/", "reserved"),  # IPv4-compatible (deprecated)
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 wrapping 127.0.0.1
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64"),  # NAT64 wrapping 169.254.169.254
    ("http://[2001:db8::1]/", "private"),  # documentation
    ("https://[::1]:8443/hook", "loopback"),
]
NOT_HTTP = ["ftp://example.com/x", "file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "//example.com/x", "x"]


@pytest.fixture
def app_config(app_config):
    app_config["OUTBOUND_ALLOWED_NETWORKS"] = ""  # production's default: nothing private is called
    return app_config


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_every_spelling_of_an_internal_address_is_refused(url, why):
    with pytest.raises(egress.EgressRefused, match=f"resolves to an? {why} address"):
        egress.request("GET", url, timeout=2)


@pytest.mark.parametrize("url", NOT_HTTP)
def test_only_http_and_https_are_called(url):
    with pytest.raises(egress.EgressRefused):
        egress.request("GET", url, timeout=2)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", ""),
        ("2606:4700:4700::1111", ""),
        ("127.0.0.1", "127.0.0.0/8"),
        ("10.20.30.40", "10.0.0.0/8"),
        ("::ffff:10.20.30.40", "10.0.0.0/8"),  # the mapped form of an allowed address is that address
        ("fd00::5", "fd00::/8"),
    ],
)
def test_global_addresses_and_allowed_networks_pass(address, allowed):
    assert egress.refusal(ipaddress.ip_address(address), egress.parse_networks(allowed)) is None


def test_allowing_one_network_does_not_allow_its_neighbours():
    allowed = egress.parse_networks("10.1.0.0/16")
    assert egress.refusal(ipaddress.ip_address("10.2.0.1"), allowed) == "a private address"
    assert egress.refusal(ipaddress.ip_address("127.0.0.1"), allowed) == "a loopback address"


@pytest.mark.parametrize(("url", "why"), REFUSED[::3] + [("http://localhost:1/x", "loopback")])
def test_a_tenant_cannot_register_an_internal_webhook_url(app, client, url, why):
    helpdesk = Helpdesk(app, client, None)
    response = helpdesk.client.post(
        "/api/v1/webhooks", json={"url": url}, headers={"Authorization": f"Bearer {helpdesk.api_key}"}
    )
    assert response.status_code == 400
    message = response.get_json()["message"]
    assert "resolves to" in message and f" {why} address" in message and "OUTBOUND_ALLOWED_NETWORKS" in message
    assert helpdesk.api("/api/v1/webhooks").get_json()["webhooks"] == []


def test_the_cli_refuses_an_internal_api_url_and_slack_url(runner):
    for args in (
        ["--api-url", "http://169.254.169.254/latest"],
        ["--option", "alert_slack_url=http://[::ffff:127.0.0.1]/services/T/B/x"],
    ):
        result = runner.invoke(args=["accounts", "create", "--platform", "generic", "--name", "Evil", *args])
        assert result.exit_code == 2 and "resolves to a" in result.output, result.output


def _signed_in_admin(client, account_id: int) -> None:
    with services().db.session() as session:
        create_admin(session, session.get(Account, account_id), "lead@acme.test", PASSWORD)
    assert sign_in(client, "lead@acme.test").status_code == 303


def test_the_admin_page_refuses_an_internal_slack_url(app, client):
    helpdesk = Helpdesk(app, client, None)
    _signed_in_admin(client, helpdesk.account.id)
    page = client.get("/admin/settings").get_data(as_text=True)
    form = {name: "" for name in account_settings.FIELDS}
    form.update(scale="csat5", locale="en", csrf_token=csrf_of(page), alert_slack_url="http://10.0.0.8/services/x")
    for name in ("delay_minutes", "throttle_days", "settle_minutes", "edit_days"):
        form[name] = "1"
    response = client.post("/admin/settings", data=form)
    assert response.status_code == 400 and "private address" in response.get_data(as_text=True)


def _rate_once(desk: Helpdesk, client) -> None:
    """A counted rating: the event, the survey, the customer's click and confirmation, the jobs."""
    desk.post(desk.event())
    desk.run_jobs()
    from tests.conftest import outbox

    link = rating_links(outbox(desk.app)[-1])[4][len("http://opencsat.test") :]
    nonce = nonce_of(client.get(link).get_data(as_text=True))
    client.post(link, data={"nonce": nonce, "score": 5})
    desk.run_jobs()


def test_a_real_loopback_server_is_never_called_when_loopback_is_not_allowed(app, client):
    """The account's API URL was set while allowed (or directly in the database): using it is refused and parked."""
    with HTTPRecorder() as internal:
        desk = Helpdesk(app, client, None)
        with services().db.session() as session:
            session.get(Account, desk.account.id).api_url = internal.url + "/callback"
        _rate_once(desk, client)
        assert internal.requests == []
    [parked] = desk.api("/api/v1/write-backs").get_json()["write_backs"]
    assert parked["status"] == "parked" and "refused by the outbound policy" in parked["last_error"]
    assert "loopback" in parked["last_error"]


@pytest.fixture
def loopback_allowed(app_config):
    app_config["OUTBOUND_ALLOWED_NETWORKS"] = "127.0.0.0/8,::1/128"
    return app_config


def test_no_redirect_is_followed_and_no_body_is_echoed(loopback_allowed, app, client):
    secret = "INTERNAL-ONLY-7f3a"
    with HTTPRecorder() as target, HTTPRecorder() as redirecting, HTTPRecorder() as failing:
        redirecting.replies = [Reply(302, {"secret": secret}, {"Location": target.url + "/latest/meta-data"})] * 9
        failing.replies = [Reply(500, {"detail": secret})] * 9
        desk = Helpdesk(app, client, redirecting.url + "/callback")
        hook = desk.client.post(
            "/api/v1/webhooks", json={"url": failing.url + "/hook"}, headers={"Authorization": f"Bearer {desk.api_key}"}
        )
        assert hook.status_code == 201
        _rate_once(desk, client)
        assert target.requests == []  # the 302 was not followed
        assert len(redirecting.requests) == 1 and len(failing.requests) == 1
    [write_back] = desk.api("/api/v1/write-backs").get_json()["write_backs"]
    assert write_back["status"] == "parked" and "HTTP 302" in write_back["last_error"]
    deliveries = desk.api(f"/api/v1/webhooks/{hook.get_json()['id']}/deliveries").get_json()["deliveries"]
    assert deliveries[0]["last_status_code"] == 500 and "HTTP 500" in deliveries[0]["last_error"]
    g.pop("account", None)  # the test's app context outlives each request: drop what the API requests left on g
    _signed_in_admin(client, desk.account.id)
    shown = [
        client.get("/admin/write-backs").get_data(as_text=True),
        desk.api("/api/v1/write-backs").get_data(as_text=True),
        desk.api(f"/api/v1/webhooks/{hook.get_json()['id']}/deliveries").get_data(as_text=True),
    ]
    assert all(secret not in page for page in shown)
    assert all(target.url not in page and "meta-data" not in page for page in shown)


def test_the_checked_address_is_the_one_connected_to(loopback_allowed, app, monkeypatch):
    """DNS rebinding: the name answers an allowed address when checked and an internal one after; one lookup only."""
    real = socket.getaddrinfo
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "10.255.255.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with HTTPRecorder() as server:
        port = server.url.rsplit(":", 1)[1]
        response = egress.request("POST", f"http://rebind.test:{port}/hook", data=b"{}", timeout=5)
        assert response.status_code == 200 and len(lookups) == 1
        [call] = server.requests
        assert call.headers["Host"] == f"rebind.test:{port}"  # the name, not the address, is what the server sees


def _certificate(name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@contextmanager
def _tls_server(tmp_path, name: str):
    """An HTTPS server on 127.0.0.1 with a certificate for `name`; records the SNI each handshake asked for."""
    cert_pem, key_pem = _certificate(name)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda sock, server_name, ctx: seen.append(server_name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, str(tmp_path / "cert.pem"), seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_tls_keeps_the_name_for_sni_and_the_certificate(loopback_allowed, app, tmp_path):
    with _tls_server(tmp_path, "localhost") as (port, ca, seen):
        response = egress.request("GET", f"https://localhost:{port}/", verify=ca, timeout=5)
        assert response.status_code == 200 and seen == ["localhost"]
        with pytest.raises(requests.exceptions.SSLError):  # the certificate is for localhost, not for the address
            egress.request("GET", f"https://127.0.0.1:{port}/", verify=ca, timeout=5)


def test_a_name_that_does_not_resolve_is_a_retryable_connection_error(app):
    with pytest.raises(requests.ConnectionError):
        egress.request("GET", "http://does-not-exist.invalid/", timeout=2)
