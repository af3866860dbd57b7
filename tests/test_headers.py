"""Security headers on every page (finding 13): CSP, nosniff, referrer policy, no framing, HSTS behind https."""

from __future__ import annotations

import re

import pytest
from flask import Response

from plugin import create_app
from plugin.services import services
from plugin.web.headers import allow_framing
from tests.conftest import PUBLIC_URL, outbox, rating_links


def _pages(helpdesk) -> list[str]:
    """A rating page, the unsubscribe page, an unknown token, the admin login, the API document, a 404, health."""
    helpdesk.post(helpdesk.event())
    helpdesk.run_jobs()
    message = outbox(helpdesk.app)[-1]
    rating = rating_links(message)[3][len(PUBLIC_URL) :]
    unsubscribe = str(message["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
    unsubscribe = unsubscribe[len(PUBLIC_URL) :] if unsubscribe.startswith(PUBLIC_URL) else "/unsubscribe/x"
    return [rating, unsubscribe, "/r/forged-token", "/admin/login", "/api/v1/openapi.json", "/nowhere", "/healthz"]


def test_every_page_carries_the_headers(helpdesk, client):
    for path in _pages(helpdesk):
        response = client.get(path)
        headers = response.headers
        csp = headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp, path
        assert "object-src 'none'" in csp or "default-src 'self'" in csp, path
        assert headers.get("X-Content-Type-Options") == "nosniff", path
        assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), path
        assert headers.get("X-Frame-Options") == "DENY", path
        assert "Strict-Transport-Security" not in headers, path  # PUBLIC_URL is http here


def test_the_rating_page_runs_only_its_own_inline_script(helpdesk, client):
    path = _pages(helpdesk)[0]
    response = client.get(path)
    nonce = response.headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    html = response.get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts, "the rating page sends its signals from a script"
    # Each script is inline with this response's nonce, or this site's own file: nothing else may run.
    assert all(f'nonce="{nonce}"' in tag or re.search(r'src="/(?!/)', tag) for tag in scripts), scripts
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"].split("script-src", 1)[1].split(";")[0]
    assert client.get(path).headers["Content-Security-Policy"] != response.headers["Content-Security-Policy"]


def test_hsts_when_the_public_url_is_https(app_config):
    app_config["PUBLIC_URL"] = "https://csat.example"
    app = create_app(app_config)
    with app.app_context():
        for path in ("/healthz", "/admin/login", "/r/forged"):
            assert app.test_client().get(path).headers["Strict-Transport-Security"] == "max-age=31536000"
        services().db.engine.dispose()


@pytest.mark.parametrize("origins", [["https://acme.zendesk.com"], []])
def test_a_sidebar_view_chooses_who_may_frame_it(app, origins):
    with app.test_request_context("/sidebar/zendesk"):
        response = allow_framing(Response("panel"), origins, ["https://static.zdassets.com"])
        response = app.process_response(response)
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {' '.join(origins) or chr(39) + 'none' + chr(39)}" in csp
    assert "https://static.zdassets.com" in csp and "X-Frame-Options" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
