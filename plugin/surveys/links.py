"""A survey as the requests on its rating links see it: plain values of one row (the survey, its account, whether
it has a rating, whether any request came before), read in one statement.

Every rating-link request reads this, so it reads only what those requests use. ORM entities would cost more
than the statement: each of a Survey, Account and Rating's ~64 columns is described, typed and instrumented on
every click. The counting functions (plugin/surveys/counting.py) take a LinkSurvey or a Survey alike.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from plugin.db import run_one
from plugin.models import Account, Click, Rating, Survey


@dataclass(frozen=True)
class LinkAccount:
    """The survey's account settings the rating page and the counting read."""

    name: str
    locale: str | None
    options: dict | None
    edit_days: int
    settle_minutes: int


@dataclass(frozen=True)
class LinkSurvey:
    """The survey columns the rating-link requests read; `account` is its account's."""

    id: int
    account_id: int
    status: str
    scale: str
    locale: str | None
    sent_at: datetime | None
    agent_email: str | None
    channel: str
    account: LinkAccount


@dataclass(frozen=True)
class LinkRead:
    survey: LinkSurvey
    rated: bool  # the survey has a rating row
    requested_before: bool  # some request (click, HEAD, prefetch...) came on its links already


_SURVEY_COLUMNS = tuple(f.name for f in fields(LinkSurvey) if f.name != "account")
_ACCOUNT_COLUMNS = tuple(f.name for f in fields(LinkAccount))
_ACCOUNT_AT = len(_SURVEY_COLUMNS)
_FLAGS_AT = _ACCOUNT_AT + len(_ACCOUNT_COLUMNS)

# Built once: building a statement costs more than running it.
_READ = (
    select(
        *(Survey.__table__.c[name] for name in _SURVEY_COLUMNS),
        *(Account.__table__.c[name] for name in _ACCOUNT_COLUMNS),
        Rating.id.is_not(None),
        exists().where(Click.survey_id == Survey.id),
    )
    .join(Account, Account.id == Survey.account_id)
    .outerjoin(Rating, Rating.survey_id == Survey.id)
    .where(Survey.id == bindparam("survey_id"))
)


def read(session: Session, survey_id: int) -> LinkRead | None:
    """The survey `survey_id` as its links see it; None when there is none."""
    row = run_one(session, _READ, {"survey_id": survey_id})  # a Core row: none of the ORM's result handling
    if row is None:
        return None
    account = LinkAccount(*row[_ACCOUNT_AT:_FLAGS_AT])
    survey = LinkSurvey(*row[:_ACCOUNT_AT], account=account)
    return LinkRead(survey, bool(row[_FLAGS_AT]), bool(row[_FLAGS_AT + 1]))
