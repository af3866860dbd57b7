"""Batch claims (sending.claim_due): workers claiming at the same moment take every due survey exactly once."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

from plugin.accounts import create_account
from plugin.models import Survey
from plugin.services import services
from plugin.surveys import sending


def test_parallel_batch_claims_take_each_due_survey_once(app, clock):
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    due, later, claimers = rng.randint(30, 120), rng.randint(1, 10), rng.randint(2, 6)
    s = services()
    with s.db.session() as session:
        account = create_account(session, s.box, platform="generic", name="Acme", webhook_secret="s" * 16).account
        session.flush()
        at = clock() - timedelta(minutes=1)
        rows = [("scheduled", at)] * due + [("scheduled", clock() + timedelta(hours=1))] * later + [("sent", at)] * 3
        rng.shuffle(rows)
        session.add_all(
            Survey(
                account_id=account.id,
                ticket_id=f"T-{n}",
                requester_email=f"c{n}@example.com",
                locale="en",
                scale="csat5",
                status=status,
                scheduled_at=when,
                created_at=at,
            )
            for n, (status, when) in enumerate(rows)
        )
    with s.db.session() as session:
        ids = [i for (i,) in session.query(Survey.id).order_by(Survey.id)]
    claimed: list[list[int]] = []
    go = threading.Barrier(claimers)

    def claimer(start: int) -> None:
        go.wait()
        while True:
            batch = s.db.transaction(lambda session: sending.claim_due(session, start, clock(), limit=7))
            if not batch:
                return
            claimed.append([survey.id for survey in batch])

    threads = [threading.Thread(target=claimer, args=(rng.choice(ids),)) for _ in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = [i for batch in claimed for i in batch]
    assert len(everything) == len(set(everything)) == due  # each due survey once, none of the others
    assert all(len(batch) <= 7 for batch in claimed)
    with s.db.session() as session:
        attempts = {survey.id: survey.attempts for survey in session.query(Survey)}
    assert sorted(i for i, n in attempts.items() if n == 1) == sorted(everything)
