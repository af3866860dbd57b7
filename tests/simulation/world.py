"""The actors of the traffic model: people and scanners, and how each one acts on a survey email's links.

People read mail in a real browser (headless Chromium standing in for theirs: no automation flag, a desktop or phone
user agent, a window of a real size). Their machines have a GPU and ours has none, so their browser is started with
WebGL off (the page then reports no renderer) rather than SwiftShader's software renderer, which is what a sandbox
on a server without a GPU shows. Scanners are HTTP clients (link checkers, HEAD and prefetch) or real Chromium
under automation (sandboxes), naive (navigator.webdriver, HeadlessChrome) or disguised (no webdriver, a normal user
agent). Every client names its network in X-Forwarded-For (the app runs with PROXY_COUNT=1, as behind a proxy).

Timings are drawn from the ranges the world shows, not from the rules: people click from 20 seconds to days after
the email arrives; sandboxes open links 5 s, 90 s or 5 min after arrival; gateways fetch within a second of it.
"""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from tests.conftest import BROWSER_HEADERS

DESKTOP = BROWSER_HEADERS["User-Agent"]
PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36"
)
LIBRARY = {"User-Agent": "python-requests/2.32.3", "Accept": "*/*"}
LISTED = ("40.107.{}.{}", "148.163.{}.{}")  # Microsoft EOP, Proofpoint: in plugin/data/scanner_networks.txt
DATACENTER = ("3.120.{}.{}", "34.90.{}.{}")  # AWS, Google Cloud: in plugin/data/scanner_datacenters.txt
UNLISTED = ("198.18.{}.{}",)  # on no list
PEOPLE = ("203.0.113.{}", "198.51.100.{}")


def address(rng: random.Random, patterns: tuple[str, ...]) -> str:
    pattern = rng.choice(patterns)
    return pattern.format(*(rng.randint(1, 250) for _ in range(pattern.count("{}"))))


def person_delay(rng: random.Random) -> float:
    """Seconds from arrival to a person's click: log-uniform from 20 seconds to three days."""
    return math.exp(rng.uniform(math.log(20), math.log(3 * 86400)))


def sandbox_delay(rng: random.Random) -> float:
    """A sandbox's detonation after arrival: about 5 s, 90 s or 5 minutes (as vendors' sandboxes are seen to)."""
    return rng.choice([5, 90, 300]) * rng.uniform(0.8, 1.25)


@dataclass
class Action:
    at: float  # seconds after sending
    actor: str  # "http", "sandbox", "stealth", "person"
    what: str  # get_all, head_all, open_all, open_one, click, confirm
    scores: list[int]
    ip: str
    agent: str = DESKTOP
    move: bool = False  # a person who moves the pointer over the page
    confirm_score: int | None = None


@dataclass
class Case:
    survey_id: int
    scenario: str
    links: list[str]
    arrival: float  # seconds after sending (greylisting and quarantine delay it)
    expected: int | None = None  # the person's final answer, None when no person answers
    single: bool = False  # the person clicked once (or the same score again) and never confirmed
    actions: list[Action] = field(default_factory=list)


SCENARIOS = {
    # scanner only
    "link checker, all links in parallel": 3,
    "HEAD and prefetch of every link": 2,
    "sandbox opens all links": 3,
    "sandbox opens one link": 4,
    "disguised sandbox opens one link": 4,
    # people only
    "person clicks once, leaves at once": 4,
    "person clicks once, moves over the page": 3,
    "person changes their mind from the email": 3,
    "person confirms another score on the page": 2,
    "person never opens the email": 1,
    # both
    "company scanner, then the person clicks": 4,
    "sandbox opens one link, then the person clicks": 3,
    "scanner re-checks links after the person clicked": 3,
}


def plan(case: Case, rng: random.Random) -> None:
    """Fill in the case's timed actions."""
    s, a, scores = case.scenario, case.arrival, list(range(1, 6))
    if s.startswith("link checker"):
        headers = rng.choice([LIBRARY, BROWSER_HEADERS])
        net = rng.choice([LISTED, UNLISTED])
        case.actions.append(
            Action(a + rng.uniform(0, 1), "http", "get_all", scores, address(rng, net), headers["User-Agent"])
        )
    elif s.startswith("HEAD"):
        case.actions.append(
            Action(a + rng.uniform(0, 1), "http", "head_all", scores, address(rng, UNLISTED), LIBRARY["User-Agent"])
        )
    elif s == "sandbox opens all links":
        net = rng.choice([LISTED, DATACENTER, UNLISTED])
        case.actions.append(Action(a + sandbox_delay(rng), "sandbox", "open_all", scores, address(rng, net)))
    elif s in ("sandbox opens one link", "disguised sandbox opens one link"):
        actor = "stealth" if s.startswith("disguised") else "sandbox"
        net = rng.choice([DATACENTER, UNLISTED])
        case.actions.append(Action(a + sandbox_delay(rng), actor, "open_one", [rng.choice(scores)], address(rng, net)))
    if not s.startswith(("person", "company", "sandbox opens one link, then", "scanner re-checks")):
        return

    if s == "person never opens the email":
        return
    ip, agent = address(rng, PEOPLE), rng.choice([DESKTOP, PHONE])
    first = rng.choice(scores)
    at = a + person_delay(rng)
    if s.startswith("company scanner"):
        gateway = address(rng, UNLISTED)
        case.actions.append(Action(a + rng.uniform(0, 1), "http", "get_all", scores, gateway, DESKTOP))
        at = a + rng.uniform(60, 1800)  # the person reads minutes after the gateway let the email in
    elif s.startswith("sandbox opens one link, then"):
        net = rng.choice([DATACENTER, UNLISTED])
        case.actions.append(
            Action(a + sandbox_delay(rng), "sandbox", "open_one", [rng.choice(scores)], address(rng, net))
        )
        at = max(at, a + 400)  # after the sandbox
    move = s.endswith("moves over the page") or rng.random() < 0.3
    case.actions.append(Action(at, "person", "click", [first], ip, agent, move=move))
    case.expected, case.single = first, True
    if s == "person changes their mind from the email":
        second = rng.choice([x for x in scores if x != first])
        case.actions.append(Action(at + rng.uniform(20, 900), "person", "click", [second], ip, agent, move=move))
        case.expected, case.single = second, False
    elif s == "person confirms another score on the page":
        other = rng.choice([x for x in scores if x != first])
        case.actions.append(Action(at + 1, "person", "confirm", [first], ip, agent, move=True, confirm_score=other))
        case.expected, case.single = other, False
    elif s.startswith("scanner re-checks"):
        net = rng.choice([LISTED, UNLISTED])
        case.actions.append(
            Action(at + rng.uniform(60, 3600), "http", "get_all", scores, address(rng, net), LIBRARY["User-Agent"])
        )


class Clients:
    """Who performs the actions: an HTTP client pool and three kinds of Chromium, all against `base`."""

    def __init__(self, base: str, browsers: dict) -> None:
        self.base, self.browsers = base, browsers
        self.codes: list[int] = []  # the status of every request made on a rating link
        self.pool = ThreadPoolExecutor(max_workers=8)

    def perform(self, case: Case, action: Action) -> None:
        links = [case.links[score - 1] for score in action.scores]
        if action.actor == "http":
            method = "HEAD" if action.what == "head_all" else "GET"
            headers = {**(LIBRARY if "python" in action.agent else BROWSER_HEADERS), "X-Forwarded-For": action.ip}
            jobs = [
                self.pool.submit(requests.request, method, self.base + link, headers=headers, timeout=30)
                for link in links
            ]
            if method == "HEAD":  # a prefetching client follows up with GETs marked as prefetch
                prefetch = {**headers, "Sec-Purpose": "prefetch"}
                jobs += [
                    self.pool.submit(requests.get, self.base + link, headers=prefetch, timeout=30) for link in links
                ]
            self.codes += [job.result().status_code for job in jobs]
            return
        context = self.browsers[action.actor].new_context(
            user_agent=None if action.actor == "sandbox" else action.agent,
            viewport={"width": 412, "height": 860} if action.agent == PHONE else {"width": 1280, "height": 800},
            locale="en-GB",
            extra_http_headers={"X-Forwarded-For": action.ip},
        )
        try:
            for link in links:
                page = context.new_page()
                response = page.goto(self.base + link, wait_until="load")
                self.codes.append(response.status if response else 599)
                page.wait_for_timeout(150)  # the page's beacon goes out once it is shown
                if action.move:
                    page.mouse.move(30, 40)
                    page.mouse.move(220, 180, steps=12)
                if action.what == "confirm":
                    page.locator(f'input[name="score"][value="{action.confirm_score}"]').check(force=True)
                    with page.expect_navigation() as posted:
                        page.locator("form button[type=submit]").click()
                    self.codes.append(posted.value.status if posted.value else 599)
                page.wait_for_timeout(100)
                page.close()
        finally:
            context.close()

    def close(self) -> None:
        self.pool.shutdown()
