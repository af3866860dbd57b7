"""The app served over real HTTP on loopback for the providers' webhooks, jobs run in this thread (run_jobs)."""

from __future__ import annotations

import json

import pytest
import requests

from plugin import create_app, signing
from plugin.services import services
from tests.conftest import Helpdesk
from tests.support.servers import free_port, serving


@pytest.fixture
def live(app_config):
    """(app, base URL): PUBLIC_URL is the served address, so the inbound URLs we print are the ones called."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app_config.update(PUBLIC_URL=base, OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8,::1/128")
    app = create_app(app_config)
    with serving(app, port), app.app_context():
        yield app, base
    app.extensions["opencsat"].db.engine.dispose()


@pytest.fixture
def desk(live, http_recorder):
    """A generic helpdesk account whose write-backs land at the HTTP recorder (the helpdesk's side)."""
    app, base = live
    helpdesk = Helpdesk(app, app.test_client(), http_recorder.url + "/callback")
    helpdesk.base = base
    return helpdesk


def post_event(desk, ticket_id: str, phone: str | None, email: str = "casey@customer.test", **extra):
    """The helpdesk's signed ticket-solved webhook, over HTTP."""
    event = desk.event(ticket_id=ticket_id, email=email, **extra)
    if phone:
        event["requester"]["phone"] = phone
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", signing.HEADER: signing.sign(desk.secret, body)}
    return requests.post(desk.base + desk.url, data=body, headers=headers, timeout=10)


def api(desk, path: str) -> dict:
    answer = requests.get(desk.base + path, headers={"Authorization": f"Bearer {desk.api_key}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def stored(model) -> list:
    with services().db.session() as session:
        rows = session.query(model).order_by(model.id).all()
        session.expunge_all()
        return rows
