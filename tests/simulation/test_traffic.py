"""Replays realistic traffic on rating links against the real app and measures what counts.

Every survey gets one scanner behaviour (or none) at delivery and one human behaviour (or none) later. At the end:
scanner clicks counted (goal 0), single human clicks counted without a second action (goal 100%), changes
honoured (goal 100%). Run `make simulate` to see the table; docs/integrity.md keeps the latest one.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.models import Rating, Survey
from plugin.services import services
from tests.conftest import BROWSER_HEADERS, PUBLIC_URL, Helpdesk, nonce_of, outbox, rating_links

SCANNERS = ("none", "all_links", "one_link", "head_prefetch", "headless_js")
HUMANS = ("none", "click_once", "click_then_change", "click_twice_same")
REPEATS = 6

SPOOFED_BROWSER = BROWSER_HEADERS  # scanners that pretend to be Chrome
HEADLESS = {**BROWSER_HEADERS, "User-Agent": BROWSER_HEADERS["User-Agent"].replace("Chrome/", "HeadlessChrome/")}
LIBRARY = {"User-Agent": "python-requests/2.32.3", "Accept": "*/*"}


@dataclass
class Case:
    survey_id: int
    scanner: str
    human: str
    links: list[str]
    expected: int | None = None  # the score the person meant, if any
    human_ip: str = ""
    actions: list = field(default_factory=list)


@pytest.fixture
def world(app, client, clock, http_recorder):
    helpdesk = Helpdesk(app, client, http_recorder.url)
    rng = random.Random(20261123)
    cases = []
    plan = [(s, h) for s in SCANNERS for h in HUMANS for _ in range(REPEATS)]
    for index in range(len(plan)):
        helpdesk.post(helpdesk.event(ticket_id=f"SIM-{index}", email=f"customer{index}@example.org"))
    helpdesk.run_jobs()
    mails = outbox(app)
    with services().db.session() as session:
        surveys = session.scalars(select(Survey).order_by(Survey.id)).all()
    for index, (scanner, human) in enumerate(plan):
        links = [link[len(PUBLIC_URL) :] for link in rating_links(mails[index])]
        cases.append(Case(surveys[index].id, scanner, human, links, human_ip=f"198.51.{index // 250}.{index % 250}"))
    return helpdesk, client, clock, rng, cases


def _plan(case: Case, rng: random.Random) -> None:
    """The timed actions of one survey: (seconds after delivery, what, arguments)."""
    if case.scanner == "all_links":
        headers, ip = rng.choice(
            [(SPOOFED_BROWSER, "40.107.3.3"), (LIBRARY, "192.0.2.10"), (SPOOFED_BROWSER, "192.0.2.11")]
        )
        for n, link in enumerate(case.links):
            case.actions.append((rng.uniform(1, 8) + n * 0.3, "get", link, headers, ip, None))
    elif case.scanner == "one_link":
        case.actions.append((rng.uniform(1, 40), "get", rng.choice(case.links), SPOOFED_BROWSER, "192.0.2.20", None))
    elif case.scanner == "head_prefetch":
        for link in case.links:
            case.actions.append((rng.uniform(1, 5), "head", link, LIBRARY, "192.0.2.30", None))
    elif case.scanner == "headless_js":
        headers = rng.choice([HEADLESS, SPOOFED_BROWSER])
        case.actions.append((rng.uniform(5, 50), "get", rng.choice(case.links), headers, "192.0.2.40", "visible"))

    if case.human == "none":
        return
    delay = rng.choice([rng.uniform(180, 3600), rng.uniform(3600, 86400), rng.uniform(86400, 3 * 86400)])
    score = rng.randint(1, 5)
    beacon = rng.choice(["visible", "interaction"])
    case.expected = score
    case.actions.append((delay, "get", case.links[score - 1], BROWSER_HEADERS, case.human_ip, beacon))
    if case.human == "click_twice_same":
        case.actions.append(
            (delay + rng.uniform(20, 1800), "get", case.links[score - 1], BROWSER_HEADERS, case.human_ip, beacon)
        )
    elif case.human == "click_then_change":
        changed = rng.choice([s for s in range(1, 6) if s != score])
        case.expected = changed
        case.actions.append(
            (delay + rng.uniform(15, 300), "confirm", case.links[score - 1], changed, case.human_ip, None)
        )


def _perform(client, case: Case, action) -> None:
    _, what, link, arg, ip, beacon = action
    env = {"REMOTE_ADDR": ip}
    if what == "head":
        client.head(link, headers=arg, environ_base=env)
    elif what == "get":
        page = client.get(link, headers=arg, environ_base=env)
        case.last_page = page.get_data(as_text=True)
        if beacon and page.status_code == 200:
            click = re.search(r'data-click="(\d+)"', case.last_page).group(1)
            client.post(
                f"{link}/signal",
                data={"nonce": nonce_of(case.last_page), "click": click, "signal": beacon},
                headers=arg,
                environ_base=env,
            )
    elif what == "confirm":
        client.post(
            link, data={"nonce": nonce_of(case.last_page), "score": arg}, headers=BROWSER_HEADERS, environ_base=env
        )


def test_scanners_never_count_and_people_always_do(world, capsys):
    helpdesk, client, clock, rng, cases = world
    delivered = clock.now
    timeline = []
    for case in cases:
        _plan(case, rng)
        timeline += [(action[0], case, action) for action in case.actions]
    for offset, case, action in sorted(timeline, key=lambda item: item[0]):
        clock.now = delivered + timedelta(seconds=offset)
        helpdesk.run_jobs()
        _perform(client, case, action)
    clock.now = delivered + timedelta(days=4)
    helpdesk.run_jobs()

    with services().db.session() as session:
        ratings = {r.survey_id: (r.status, r.score) for r in session.scalars(select(Rating))}
    rows, totals = [], {"scanner": [0, 0], "single": [0, 0], "change": [0, 0]}
    for scanner in SCANNERS:
        for human in HUMANS:
            group = [c for c in cases if c.scanner == scanner and c.human == human]
            counted = [c for c in group if ratings.get(c.survey_id, ("none",))[0] == "counted"]
            right = [c for c in counted if ratings[c.survey_id][1] == c.expected]
            wrong = len(counted) - len(right)
            rows.append((scanner, human, len(group), len(counted), len(right), wrong))
            totals["scanner"][0] += wrong
            totals["scanner"][1] += len(group) if scanner != "none" else 0
            if human in ("click_once", "click_twice_same"):
                totals["single"][0] += len(right)
                totals["single"][1] += len(group)
            elif human == "click_then_change":
                totals["change"][0] += len(right)
                totals["change"][1] += len(group)

    table = [
        "| scanner at delivery | person | surveys | counted | counted as the person meant | counted wrongly |",
        "|---|---|---|---|---|---|",
    ]
    table += [f"| {s} | {h} | {n} | {c} | {r} | {w} |" for s, h, n, c, r, w in rows]
    scanner_counted, scanner_total = totals["scanner"]
    single = 100.0 * totals["single"][0] / totals["single"][1]
    change = 100.0 * totals["change"][0] / totals["change"][1]
    summary = [
        "",
        f"scanner clicks counted: {scanner_counted} of {scanner_total} surveys with scanner traffic (goal 0)",
        f"single human clicks counted without a second action: {single:.0f}% (goal 100%)",
        f"changes honoured: {change:.0f}% (goal 100%)",
    ]
    with capsys.disabled():
        print("\n" + "\n".join(table + summary))
    assert scanner_counted == 0
    assert single == 100.0
    assert change == 100.0
