"""Which helpdesk pages may frame the sidebar: the CSP frame-ancestors value per platform (one list, one place).

The security headers on every page (CSP, nosniff, Referrer-Policy) are set app-wide; sidebar pages ask this
function for their frame-ancestors instead of 'none'. Self-hosted helpdesks (Zammad, Chatwoot, LiveAgent on
premises, generic) are framed from the origin of the account's API URL, which is where their agents work.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# Hosted helpdesks: where their agent UI (and, for Freshworks, the app's own iframe) is served.
# Zendesk: https://developer.zendesk.com/documentation/apps/app-developer-guide/using-the-apps-framework/
# Freshworks apps render in an iframe inside the agent portal; assumption: the portal and the app frame are on
# *.freshdesk.com / *.freshworks.com / *.myfreshworks.com (check the browser console if a new domain appears).
HOSTED = {
    "zendesk": ("https://*.zendesk.com",),
    "freshdesk": ("https://*.freshdesk.com", "https://*.freshworks.com", "https://*.myfreshworks.com"),
    "liveagent": ("https://*.ladesk.com",),
    "chatwoot": ("https://app.chatwoot.com",),
}
NOT_FRAMED = ("helpscout",)  # Help Scout shows the HTML we return inside its own page: nothing frames us


def frame_ancestors(platform: str, api_url: str | None = None) -> str:
    """The value for `Content-Security-Policy: frame-ancestors <value>` on this platform's sidebar pages."""
    if platform in NOT_FRAMED:
        return "'none'"
    origins = list(HOSTED.get(platform, ()))
    parts = urlsplit(api_url or "")
    if parts.scheme in ("https", "http") and parts.hostname:
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in origins:
            origins.append(origin)
    return " ".join(origins) or "'none'"
