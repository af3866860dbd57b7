"""A web process remembers accounts between webhooks; a change made by another process still counts at once."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import func, select

from plugin import create_app
from plugin.accounts import update_account
from plugin.models import Account, Survey, WebhookEvent
from plugin.services import services
from tests.conftest import SECRET_KEY


def _cli(config: dict, *args: str) -> None:
    """The operator's CLI, a process of its own with its own connections (and its own memory)."""
    env = {**os.environ, **{k: str(v) for k, v in config.items() if v is not None and k.isupper()}}
    env["SECRET_KEY"] = SECRET_KEY
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "plugin", *args], env=env, check=True, timeout=60, capture_output=True
    )


def _stored() -> tuple[int, int]:
    with services().db.session() as session:
        return session.scalar(select(func.count(WebhookEvent.id))), session.scalar(select(func.count(Survey.id)))


def test_a_secret_rotated_by_the_cli_takes_effect_on_the_next_webhook(app_config, helpdesk):
    assert helpdesk.post(helpdesk.event(ticket_id="T-1")).status_code == 202  # the account is now remembered
    old_secret = helpdesk.secret

    _cli(app_config, "accounts", "update", "--account", helpdesk.account.key, "--webhook-secret", "whsec-new")

    refused = helpdesk.post(helpdesk.event(ticket_id="T-2"), secret=old_secret)
    assert refused.status_code == 401
    assert helpdesk.post(helpdesk.event(ticket_id="T-3"), secret="whsec-new").status_code == 202
    assert _stored() == (2, 2)  # T-1 and T-3; nothing of the refused one


def test_settings_changed_elsewhere_apply_to_the_next_event(app_config, helpdesk):
    assert helpdesk.post(helpdesk.event(ticket_id="T-1", tags=["vip"])).status_code == 202

    # Another process (its own engine, its own memory) excludes the tag and sets a delay.
    other = create_app(app_config)
    with other.app_context():
        s = services()
        with s.db.session() as session:
            account = session.scalar(select(Account).where(Account.key == helpdesk.account.key))
            update_account(session, s.box, account, delay_minutes=45, options={"exclude_tags": "vip"})
        s.db.engine.dispose()

    answer = helpdesk.post(helpdesk.event(ticket_id="T-2", tags=["vip"])).get_json()
    assert answer["survey"]["status"] == "skipped" and answer["survey"]["reason"] == "excluded_tag"
    answer = helpdesk.post(helpdesk.event(ticket_id="T-3", email="robin@customer.test")).get_json()
    assert answer["survey"]["status"] == "scheduled"
    with services().db.session() as session:
        survey = session.scalar(select(Survey).where(Survey.ticket_id == "T-3"))
        assert survey.scheduled_at - survey.created_at == timedelta(minutes=45)


def test_a_core_update_bumps_the_version_too(app, helpdesk):
    """Any UPDATE through SQLAlchemy, not only the ORM's, moves the version the ingest checks."""
    from sqlalchemy import update

    with services().db.session() as session:
        before = session.scalar(select(Account.version).where(Account.id == helpdesk.account.id))
        session.execute(update(Account).where(Account.id == helpdesk.account.id).values(locale="de"))
    with services().db.session() as session:
        assert session.scalar(select(Account.version).where(Account.id == helpdesk.account.id)) == before + 1


def test_a_repeat_delivery_is_still_a_duplicate_after_a_change(app, helpdesk):
    event = helpdesk.event(ticket_id="T-1")
    assert helpdesk.post(event).status_code == 202
    with services().db.session() as session:
        account = session.get(Account, helpdesk.account.id)
        update_account(session, services().box, account, throttle_days=1)
    answer = helpdesk.post(event)
    assert answer.status_code == 200 and answer.get_json()["status"] == "duplicate"
    assert _stored() == (1, 1)


def _changed_after_each_read(app_config, key: str, times: int):
    """Another process's engine bumps the account right after this app reads it, `times` times (a race)."""
    from sqlalchemy import create_engine, event, update

    other = create_engine(app_config["DATABASE_URL"])
    left = [times]

    def bump(_conn, _cursor, statement, *_args):
        if left[0] and statement.lstrip().startswith("SELECT accounts."):
            left[0] -= 1
            with other.begin() as conn:
                conn.execute(update(Account).where(Account.key == key).values(name=f"Acme {left[0]}"))

    db = services().db
    for engine in {db.engine, db.autocommit_engine}:  # the webhook reads the account on the autocommit one
        event.listen(engine, "after_cursor_execute", bump)
    return other


def test_an_account_changed_once_during_the_request_is_read_again(app_config, helpdesk):
    other = _changed_after_each_read(app_config, helpdesk.account.key, times=1)
    assert helpdesk.post(helpdesk.event(ticket_id="T-1")).status_code == 202
    assert _stored() == (1, 1)
    other.dispose()


def test_an_account_that_keeps_changing_answers_503_and_writes_nothing(app_config, helpdesk):
    other = _changed_after_each_read(app_config, helpdesk.account.key, times=100)
    answer = helpdesk.post(helpdesk.event(ticket_id="T-1"))
    assert answer.status_code == 503 and "try again" in answer.get_json()["message"]
    assert _stored() == (0, 0)
    other.dispose()
