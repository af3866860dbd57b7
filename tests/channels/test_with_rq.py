"""The SMS loop with production parts: RQ on a real Redis and a real worker (PostgreSQL pass only: it is slow)."""

from __future__ import annotations

import os

import pytest
from rq import SimpleWorker

from plugin import create_app
from plugin.jobs.sweep import sweep
from plugin.services import services
from tests.channels.conftest import api, post_event
from tests.channels.emulators import TwilioEmulator
from tests.conftest import Helpdesk
from tests.support.cli import add_channel, cli
from tests.support.servers import free_port, serving

pytestmark = pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql", reason="heavy: runs in the PostgreSQL pass"
)


def _work() -> None:
    s = services()
    with s.db.session() as session:
        sweep(session, s.jobs, s.clock())
    SimpleWorker([s.jobs.queue], connection=s.jobs.redis).work(burst=True)


def test_sms_survey_reply_and_follow_up_through_rq(app_config, redis_url, http_recorder):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app_config.update(PUBLIC_URL=base, REDIS_URL=redis_url, OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8")
    app = create_app(app_config)
    with serving(app, port), app.app_context(), TwilioEmulator() as twilio:
        desk = Helpdesk(app, app.test_client(), http_recorder.url + "/callback")
        desk.base = base
        out = add_channel(
            app,
            desk.account.key,
            "twilio",
            account_sid=twilio.account_sid,
            auth_token=twilio.auth_token,
            from_="+15005550006",
            api_url=twilio.url,
        )
        twilio.inbound_url = out["inbound_url"]
        cli(app, "accounts", "update", "--account", desk.account.key, "--channels", "sms,email")
        assert post_event(desk, "T-1", "+14155550100").status_code == 202
        _work()
        assert len(twilio.messages) == 1
        assert twilio.reply("+14155550100", "+15005550006", "5").status_code == 200
        _work()
        assert api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"][0]["score"] == 5
        assert http_recorder.requests[-1].json()["rating"]["score"] == 5
        assert "improve" in twilio.messages[1]["body"]
    app.extensions["opencsat"].db.engine.dispose()
