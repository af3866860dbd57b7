"""Security headers on every response: CSP, nosniff, referrer policy, framing, and HSTS behind an https PUBLIC_URL.

- Content-Security-Policy: scripts from this site, or inline with this response's nonce (`csp_nonce()` in templates);
  no plugins, no <base>, forms post here only, and frame-ancestors 'none': no other site may frame a page, so a
  rating button cannot be click-jacked. Sidebar pages are framed by helpdesks: their view calls
  `allow_framing(response, origins)` with the platform's helpdesk origins instead.
- X-Content-Type-Options: nosniff, so an upload or a JSON answer is never run as a script or a page.
- Referrer-Policy: no-referrer, since rating and unsubscribe links carry their token in the path.
- Strict-Transport-Security when PUBLIC_URL is https (one year; subdomains are not ours to promise).
A blueprint that sets a header itself (the admin pages' own CSP) keeps it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from flask import Flask, Response, request

HSTS = "max-age=31536000"
SIDEBAR_PREFIX = "/sidebar"


def policy(nonce: str, frame_ancestors: str = "'none'", script_sources: Iterable[str] = ()) -> str:
    scripts = " ".join(["'self'", f"'nonce-{nonce}'", *script_sources])
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
        f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors}"
    )


def csp_nonce() -> str:
    """This response's script nonce: `<script nonce="{{ csp_nonce() }}">` for an inline script."""
    # Kept on the request itself (not on g, which an outer app context may share between requests).
    return request.environ.setdefault("opencsat.csp_nonce", secrets.token_urlsafe(16))


def allow_framing(response: Response, origins: Iterable[str], script_sources: Iterable[str] = ()) -> Response:
    """Let exactly `origins` (e.g. "https://acme.zendesk.com") frame this response; nobody when empty.

    For sidebar views. `script_sources` adds script origins the page needs (a helpdesk's app SDK).
    """
    ancestors = " ".join(origins) or "'none'"
    response.headers["Content-Security-Policy"] = policy(csp_nonce(), ancestors, script_sources)
    response.headers.pop("X-Frame-Options", None)
    request.environ["opencsat.framing_decided"] = True
    return response


def init_app(app: Flask) -> None:
    https = app.extensions["opencsat"].settings.public_url.startswith("https://")
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _secure(response: Response) -> Response:
        headers = response.headers
        ours = []
        # Sidebar views call allow_framing with their helpdesk's origins (plugin/web/sidebar.py, docs/sidebar.md).
        if not request.environ.get("opencsat.framing_decided") and not request.path.startswith(SIDEBAR_PREFIX):
            ours.append(("Content-Security-Policy", policy(csp_nonce())))
            ours.append(("X-Frame-Options", "DENY"))  # for browsers that predate frame-ancestors
        ours.append(("X-Content-Type-Options", "nosniff"))
        ours.append(("Referrer-Policy", "no-referrer"))
        if https:
            ours.append(("Strict-Transport-Security", HSTS))
        # Each one only where the view set none. One look at the names: Headers.setdefault scans every header and
        # raises a KeyError inside for each one missing.
        present = {name.lower() for name, _ in headers.items()}
        for name, value in ours:
            if name.lower() not in present:
                headers.add(name, value)
        return response
