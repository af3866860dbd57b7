"""Parallel traffic on one survey's links, through gunicorn (several workers and threads) on PostgreSQL.

Link checkers and sandboxes open every link of an email at once, and a person may confirm while they do. Whatever
the interleaving: no request answers 5xx, every request is kept as an event, and the rating ends where the last
confirmation put it. Heavy (a real server), so it runs in the PostgreSQL pass only.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from plugin.models import Click, Rating, Survey, WriteBack
from plugin.services import services
from tests.conftest import BROWSER_HEADERS, LOOPBACK_NETWORKS, PUBLIC_URL, SECRET_KEY, Helpdesk
from tests.simulation.served import gunicorn
from tests.support.servers import SMTPServer

pytestmark = pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql",
    reason="real gunicorn against one shared database: run once, in the PostgreSQL pass",
)


@pytest.fixture
def survey_links(app, client, http_recorder, request):
    settle = getattr(request, "param", 10)
    helpdesk = Helpdesk(app, client, http_recorder.url, settle_minutes=settle)
    helpdesk.post(helpdesk.event(ticket_id="PAR-1"))
    deadline = time.monotonic() + 30
    while True:  # sent here or by a gunicorn worker's job thread, whichever sweeps first
        helpdesk.run_jobs()
        with services().db.session() as session:
            survey = session.scalar(select(Survey))
        if survey.status == "sent" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert survey.status == "sent"
    return survey.id, [f"/r/{services().tokens.rating(survey.id, score)}" for score in range(1, 6)]


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    mail = SMTPServer().start()  # what the workers' job threads send goes here
    env = {
        "SMTP_URL": mail.url,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_URL": PUBLIC_URL,
        "SWEEP_SECONDS": "1",  # each worker's job thread settles and writes back while the clicks go on
        "PROXY_COUNT": "1",  # every request names its client in X-Forwarded-For, as behind a load balancer
        "OUTBOUND_ALLOWED_NETWORKS": LOOPBACK_NETWORKS,  # write-backs go to a helpdesk on loopback
    }
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with gunicorn(env, log, workers=2, threads=4) as base:
        yield base
    mail.stop()
    errors = [line for line in log.read_text().splitlines() if "Error" in line or "Traceback" in line]
    print("gunicorn log, errors:", *errors[-20:], sep="\n")  # shown when the test fails


def _fire(base: str, plan: list[tuple]) -> list[int]:
    """Send every (method, path, data, client address) at once from 24 threads; the status codes, in order."""
    start = threading.Event()

    def one(step):
        method, path, data, address = step
        headers = {**BROWSER_HEADERS, "X-Forwarded-For": address}
        start.wait(timeout=10)
        response = requests.request(method, base + path, data=data, headers=headers, timeout=60)
        return response.status_code

    with ThreadPoolExecutor(max_workers=24) as pool:
        futures = [pool.submit(one, step) for step in plan]
        start.set()
        return [future.result() for future in futures]


def _events() -> dict[str, int]:
    with services().db.session() as session:
        return dict(session.execute(select(Click.kind, func.count()).group_by(Click.kind)).all())


def test_a_scanner_opening_every_link_in_parallel_loses_nothing(server, survey_links):
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    _, links = survey_links
    # Five copies of a sweep over the five links, shuffled: 25 parallel GETs from a scanner's pool of addresses.
    plan = [("GET", link, None, f"203.0.113.{rng.randint(1, 20)}") for link in links * 5]
    rng.shuffle(plan)
    codes = _fire(server, plan)
    assert [c for c in codes if c >= 500] == []
    assert set(codes) == {200}
    assert _events().get("click") == len(plan)
    with services().db.session() as session:
        assert len(session.scalars(select(Rating)).all()) == 1


@pytest.mark.parametrize("survey_links", [10, 0], indirect=True, ids=["settle-10min", "settle-0"])
def test_clicks_and_confirms_in_parallel_lose_nothing(server, survey_links):
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    survey_id, links = survey_links
    with services().db.session() as session:
        nonce = services().tokens.form_nonce(survey_id)
    plan = [("GET", rng.choice(links), None, f"198.51.100.{rng.randint(1, 5)}") for _ in range(24)]
    plan += [
        ("POST", rng.choice(links), {"nonce": nonce, "score": rng.randint(1, 5), "comment": f"take {n}"}, "192.0.2.7")
        for n in range(16)
    ]
    rng.shuffle(plan)
    codes = _fire(server, plan)
    assert [c for c in codes if c >= 500] == []
    assert set(codes) == {200}
    assert _events() == {"click": 24, "confirm": 16}
    with services().db.session() as session:
        rating = session.scalar(select(Rating))
        last_confirm = session.scalar(select(Click).where(Click.kind == "confirm").order_by(Click.id.desc()).limit(1))
        versions = session.scalars(select(WriteBack.version).where(WriteBack.rating_id == rating.id)).all()
    # The confirmation that committed last is the person's answer; clicks around it never moved it.
    assert (rating.score, rating.status) == (last_confirm.score, "counted")
    assert rating.confirmed_at is not None and rating.comment.startswith("take ")  # the comment is not lost
    assert sorted(versions) == list(range(1, len(versions) + 1)) and len(versions) >= 16
