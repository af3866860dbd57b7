"""Long inbound SMS through Vonage: the parts (concat-ref / concat-total / concat-part) arrive shuffled and repeated,
are kept in the database and read as one reply once all are in; after the bounded wait the parts received are the
message, and a part later than that is still kept."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import update

from plugin.channels import concat
from plugin.models import ChannelMessage, SmsPart
from plugin.services import services
from tests.channels.conftest import api, post_event, stored
from tests.channels.test_vonage import OURS, THEIRS, vonage  # noqa: F401 (fixture)
from tests.conftest import run_jobs

# Longer than one UCS-2 segment (70) and than two concatenated parts (2 x 67): three parts.
GREEK = (
    "Η υποστήριξη ήταν ευγενική, αλλά χρειάστηκε να εξηγήσω το πρόβλημα με τον εκτυπωτή τρεις φορές "
    "σε διαφορετικούς ανθρώπους πριν κάποιος κοιτάξει το ιστορικό του αιτήματος."
)


def _comment(desk) -> str | None:
    rows = api(desk, "/api/v1/ratings?ticket_id=T-1")["ratings"]
    return rows[0]["comment"] if rows else None


@pytest.fixture
def rated(vonage, desk):  # noqa: F811
    """A Greek customer's SMS survey answered with a score: the follow-up question is out, a comment may come."""
    requester = {"email": "eleni@customer.test", "name": "Eleni", "locale": "el", "phone": THEIRS}
    post_event(desk, "T-1", None, requester=requester)
    run_jobs()
    vonage.reply(THEIRS, OURS, "3")
    run_jobs()
    assert len(vonage.messages) == 2  # the question and the follow-up
    return vonage


def test_shuffled_and_repeated_parts_make_one_comment(rated, desk, http_recorder):
    assert len(GREEK) > 2 * 67
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    parts = rated.long_reply_parts(THEIRS, OURS, GREEK, ref=str(rng.randrange(256)))
    assert [p["concat-total"] for p in parts] == ["3"] * 3 and all(p["type"] == "unicode" for p in parts)
    deliveries = parts + rng.sample(parts, 2)  # Vonage retries: two parts twice
    rng.shuffle(deliveries)
    seen: set[str] = set()
    for params in deliveries:
        assert rated.deliver(params).status_code == 200
        seen.add(params["concat-part"])
        run_jobs()
        assert _comment(desk) == (GREEK if len(seen) == 3 else "")  # nothing is read before the message is whole
    assert http_recorder.requests[-1].json()["rating"]["comment"] == GREEK
    assert len(stored(SmsPart)) == 3 and {p.status for p in stored(SmsPart)} == {"joined"}
    replies = [m for m in stored(ChannelMessage) if m.kind == "reply"]
    assert [m.body for m in replies] == ["3", GREEK] and replies[-1].status == "commented"
    assert len(rated.messages) == 2  # no help message for a part, no second follow-up


def test_after_the_wait_the_parts_received_are_the_message_and_a_late_part_is_kept(rated, desk):
    one, two, three = rated.long_reply_parts(THEIRS, OURS, GREEK, ref="42")
    rated.deliver(three)
    rated.deliver(one)
    run_jobs()
    assert _comment(desk) == ""  # part two may still come
    [due] = {p.join_due_at for p in stored(SmsPart)}
    assert due == min(p.received_at for p in stored(SmsPart)) + concat.WAIT  # the wait runs from the first part
    with services().db.session() as session:  # the wait is over
        session.execute(update(SmsPart).values(join_due_at=services().clock() - timedelta(seconds=1)))
    run_jobs()
    assert _comment(desk) == one["text"] + three["text"]
    run_jobs()  # the job again, as a second worker or the next sweep would: nothing changes
    assert _comment(desk) == one["text"] + three["text"]
    rated.deliver(two)  # the lost part turns up after all: kept, added to the comment, nothing lost
    run_jobs()
    assert _comment(desk) == one["text"] + three["text"] + "\n" + two["text"]


def test_a_part_numbered_outside_its_total_is_400_and_nothing_is_stored(rated):
    [first, *_] = rated.long_reply_parts(THEIRS, OURS, GREEK, ref="7")
    before = len(stored(ChannelMessage))
    for bad in (
        {"concat-part": "4"},
        {"concat-part": "0"},
        {"concat-total": "1", "concat-part": "1"},
        {"concat-ref": ""},
    ):
        assert rated.deliver({**first, **bad}).status_code == 400
    assert stored(SmsPart) == [] and len(stored(ChannelMessage)) == before


def test_parts_delivered_at_the_same_time_are_joined_at_once(rated, desk):
    """Vonage posts the parts in parallel: the request that brings the last part must see the others (no wait)."""
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    for round_ in range(3):
        text = f"{GREEK} ({round_})"
        parts = rated.long_reply_parts(THEIRS, OURS, text, ref=f"r{round_}")
        deliveries = parts + rng.sample(parts, 2)
        rng.shuffle(deliveries)
        with ThreadPoolExecutor(len(deliveries)) as pool:
            answers = list(pool.map(rated.deliver, deliveries))
        assert [a.status_code for a in answers] == [200] * len(deliveries)
        run_jobs()
        assert _comment(desk).endswith(text)  # joined now, not after the wait
    assert {p.status for p in stored(SmsPart)} == {"joined"}


def test_a_concat_ref_that_comes_round_again_starts_a_new_message(rated, desk):
    """Phones number long messages with a small counter: the same ref an hour later is another message."""
    first = "Πρώτο μήνυμα: " + GREEK
    for params in rated.long_reply_parts(THEIRS, OURS, first, ref="9"):
        rated.deliver(params)
    run_jobs()
    assert _comment(desk) == first
    with services().db.session() as session:
        long_ago = services().clock() - concat.REUSED_AFTER - timedelta(seconds=1)
        session.execute(update(SmsPart).values(received_at=long_ago))
    second = "Δεύτερο μήνυμα: " + GREEK
    for params in rated.long_reply_parts(THEIRS, OURS, second, ref="9"):
        rated.deliver(params)
    run_jobs()
    assert _comment(desk) == first + "\n" + second
