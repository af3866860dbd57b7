"""Fixtures every helpdesk platform test uses: surveys go out over the real SMTP server."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config(app_config, smtp_server):
    app_config["SMTP_URL"] = smtp_server.url
    return app_config
