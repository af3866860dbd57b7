"""A traffic model of the world on one account's survey emails, against the real app, database and Chromium.

Every survey email meets one scenario from tests/simulation/world.py: scanners alone (link checkers fetching every
link in parallel, HEAD and prefetch, sandboxes in real Chromium opening all links or one), people alone (clicking
once and leaving, moving over the page, changing their mind from the email, confirming another score, never
coming), or both (a company scanner in front of a person, a sandbox then the person, a re-check after the person).
Timings are seeded random draws from the world's ranges (OPENCSAT_SIMULATION_SEED to replay one; the seed is
printed). The app's clock carries the long waits; settle jobs run as time passes.

`make simulate` prints the table kept in docs/integrity.md. In the test suite it runs in the PostgreSQL pass only
(real browsers are the heavy part); OPENCSAT_SIMULATE=1 runs it on SQLite as well.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from plugin import create_app
from plugin.models import Click, Rating, Survey
from plugin.services import services
from tests.conftest import Helpdesk, run_jobs
from tests.simulation import world
from tests.support.browser import CHROMIUM, LAUNCH_ARGS, requires_chromium
from tests.support.servers import serving

pytestmark = [
    requires_chromium,
    pytest.mark.skipif(
        os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "postgresql" and not os.environ.get("OPENCSAT_SIMULATE"),
        reason="the browser traffic model runs once, in the PostgreSQL pass (OPENCSAT_SIMULATE=1 to run it here)",
    ),
]


@pytest.fixture
def browsers(playwright):
    """Three Chromiums: people's (no automation flag, WebGL off), a naive sandbox's, a disguised sandbox's."""
    launch = playwright.chromium.launch
    hidden = ["--disable-blink-features=AutomationControlled"]
    started = {
        "person": launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS + hidden + ["--disable-3d-apis"]),
        "sandbox": launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS),
        "stealth": launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS + hidden),
    }
    yield started
    for browser in started.values():
        browser.close()


@pytest.fixture
def served(app_config, clock, http_recorder):
    app = create_app({**app_config, "PROXY_COUNT": "1"})
    with app.app_context():
        services().clock = clock
        helpdesk = Helpdesk(app, app.test_client(), http_recorder.url)
        with serving(app) as base:
            yield app, helpdesk, base
        services().db.engine.dispose()


def test_people_count_and_scanners_never_do(served, browsers, clock, capsys):
    app, helpdesk, base = served
    seed = int(os.environ.get("OPENCSAT_SIMULATION_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    names = [name for name, repeats in world.SCENARIOS.items() for _ in range(repeats)]
    for index, _ in enumerate(names):
        helpdesk.post(helpdesk.event(ticket_id=f"SIM-{index}", email=f"reader{index}@example.org"))
    run_jobs()
    sent = clock.now
    with services().db.session() as session:
        ids = session.scalars(select(Survey.id).order_by(Survey.id)).all()
    cases = []
    for survey_id, name in zip(ids, names, strict=True):
        links = [f"/r/{services().tokens.rating(survey_id, score)}" for score in range(1, 6)]
        arrival = rng.choice([rng.uniform(1, 20), rng.uniform(60, 1800)])  # at once, or greylisted for minutes
        case = world.Case(survey_id, name, links, arrival)
        world.plan(case, rng)
        cases.append(case)

    clients = world.Clients(base, browsers)
    try:
        timeline = sorted(((action.at, n, case, action) for n, case in enumerate(cases) for action in case.actions))
        for at, _, case, action in timeline:
            clock.now = sent + timedelta(seconds=at)
            run_jobs()
            clients.perform(case, action)
    finally:
        clients.close()
    clock.now = sent + timedelta(days=5)
    run_jobs()

    with services().db.session() as session:
        ratings = {r.survey_id: (r.status, r.score) for r in session.scalars(select(Rating))}
        events = session.scalar(select(func.count()).select_from(Click).where(Click.kind != "restore"))
    table, figures = _table(cases, ratings)
    requests_made, errors = len(clients.codes), sum(1 for code in clients.codes if code >= 500)
    summary = [
        f"seed {seed}, database {services().db.engine.dialect.name}, {len(cases)} surveys",
        f"scanner-only surveys counted: {figures['scanner'][0]} of {figures['scanner'][1]} (goal 0)",
        _share("people's single clicks counted with their score, no second action", figures["single"]),
        _share("changes of mind honoured", figures["change"]),
        _share("people behind a company scanner counted with their own score", figures["behind"]),
        f"requests answered 5xx: {errors} of {requests_made} (goal 0)",
        _share("events stored / requests made", (events, requests_made)),
    ]
    with capsys.disabled():
        print("\n" + "\n".join(table + [""] + summary))
    assert errors == 0
    assert events == requests_made
    assert figures["scanner"][0] == 0
    assert figures["wrong"] == 0  # no survey ever counted a score its person did not choose


def _table(cases: list[world.Case], ratings: dict) -> tuple[list[str], dict]:
    rows = [
        "| scenario | surveys | counted | with the person's score | counted wrongly | left flagged |",
        "|---|---|---|---|---|---|",
    ]
    figures = {"scanner": [0, 0], "single": [0, 0], "change": [0, 0], "behind": [0, 0], "wrong": 0}
    for name in world.SCENARIOS:
        group = [c for c in cases if c.scenario == name]
        state = [ratings.get(c.survey_id, ("none", None)) for c in group]
        counted = [(c, score) for c, (status, score) in zip(group, state, strict=True) if status == "counted"]
        right = [c for c, score in counted if score == c.expected]
        wrong = len(counted) - len(right)
        flagged = sum(1 for status, _ in state if status == "flagged")
        rows.append(f"| {name} | {len(group)} | {len(counted)} | {len(right)} | {wrong} | {flagged} |")
        figures["wrong"] += wrong
        for case in group:
            good = case in right
            if case.expected is None and any(a.actor != "person" for a in case.actions):
                figures["scanner"][0] += ratings.get(case.survey_id, ("none",))[0] == "counted"
                figures["scanner"][1] += 1
            elif case.single:
                figures["single"][0] += good
                figures["single"][1] += 1
            elif case.expected is not None:
                figures["change"][0] += good
                figures["change"][1] += 1
            if name.startswith("company scanner"):
                figures["behind"][0] += good
                figures["behind"][1] += 1
    return rows, figures


def _share(label: str, pair) -> str:
    done, total = pair
    percent = f"{100.0 * done / total:.0f}%" if total else "n/a"
    return f"{label}: {done} of {total} ({percent})"
