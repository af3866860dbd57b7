"""Every HTTP call the service makes to a URL that a tenant or admin can set goes through `request` here.

The contract (../DESIGN "Outbound HTTP"): http(s) only, the host resolved and every address checked against the
refused ranges unless inside OUTBOUND_ALLOWED_NETWORKS, the checked address pinned for the connection, no redirects,
remote bodies never echoed back to the tenant. This first version only fixes the seam (one function, no redirects);
the address policy is filled in behind it.
"""

from __future__ import annotations

import requests

TIMEOUT_SECONDS = 10


class EgressRefused(Exception):
    """The URL may not be called under the outbound policy; the message is safe to show the tenant."""


def request(method: str, url: str, **kwargs) -> requests.Response:
    """One outbound call under the policy: never follows redirects; raises EgressRefused or requests' own errors."""
    kwargs.setdefault("timeout", TIMEOUT_SECONDS)
    kwargs["allow_redirects"] = False
    return requests.request(method, url, **kwargs)
