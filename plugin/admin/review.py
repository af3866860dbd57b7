"""Reviewing flagged clicks from the admin pages: every request behind a flagged rating, its reasons in words, and
the admin's vouching for one click. No Flask."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.models import Click, Rating, WriteBack
from plugin.surveys import counting
from plugin.surveys.review import flagged

__all__ = ["count_flagged", "flagged", "restore_click"]


def count_flagged(session: Session, rating_id: int, account_id: int, now: datetime) -> WriteBack | None:
    """Count a flagged rating by restoring its latest click of that score; None if there is no such flagged rating."""
    rating = session.scalar(
        select(Rating).where(Rating.id == rating_id, Rating.account_id == account_id, Rating.status == "flagged")
    )
    if rating is None:
        return None
    click_id = session.scalar(
        select(Click.id)
        .where(Click.survey_id == rating.survey_id, Click.kind == "click", Click.score == rating.score)
        .order_by(Click.id.desc())
        .limit(1)
    )
    return None if click_id is None else restore_click(session, click_id, account_id, now)


def restore_click(session: Session, click_id: int, account_id: int, now: datetime) -> WriteBack | None:
    """Count one click's score as the admin vouches for it (counting.RatingConfirmed if the customer confirmed)."""
    return counting.restore(session, account_id, click_id, now)
