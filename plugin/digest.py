"""The weekly digest: one email per opted-in admin or team lead about last week, in their language. No Flask.

Last week is Monday 00:00 UTC to Monday 00:00 UTC. A person who chose day D and hour H gets it once the current
week reaches D at H:00 UTC; one `digest_sends` row per (person, week) under a unique constraint makes it once only,
whatever the number of sweeps or workers. Contents, over what the person may see (plugin.admin.roles): CSAT and its
change per team, the agents who moved most by the lower bound of their Wilson interval (agents ranked in both weeks),
last week's new negative comments, and the flagged clicks still waiting for review.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugin import comparison, dashboard, i18n, recovery, retries
from plugin.admin import roles
from plugin.models import Account, AdminUser, DigestSend, Rating, Survey
from plugin.templating import environment

PENDING, SENT, FAILED = "pending", "sent", "failed"
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 6
MOVERS = 3
COMMENTS = 10


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the week `now` is in."""
    day = now.astimezone(UTC).date()
    return datetime.combine(day - timedelta(days=day.weekday()), datetime.min.time(), UTC)


def due_at(person: AdminUser, now: datetime) -> datetime | None:
    """When this week's digest is due for `person` (None: not opted in, or not a role that gets one)."""
    if person.digest_weekday is None or person.role not in roles.DIGEST_ROLES:
        return None
    return week_start(now) + timedelta(days=person.digest_weekday, hours=person.digest_hour)


def queue_due(session: Session, now: datetime) -> list[int]:
    """Add the pending row of every digest due by `now` and not yet queued for its week; their ids."""
    period_start = week_start(now) - timedelta(days=7)
    already = select(DigestSend.id).where(
        DigestSend.admin_user_id == AdminUser.id, DigestSend.period_start == period_start
    )
    people = session.scalars(
        select(AdminUser).where(
            AdminUser.digest_weekday.is_not(None), AdminUser.role.in_(roles.DIGEST_ROLES), ~already.exists()
        )
    )
    queued = []
    for person in people:
        due = due_at(person, now)
        if due is None or due > now:
            continue
        row = DigestSend(admin_user_id=person.id, period_start=period_start, status=PENDING, next_attempt_at=now)
        try:
            with session.begin_nested():  # another sweep queued it a moment ago: the unique constraint says so
                session.add(row)
                session.flush()
        except IntegrityError:
            continue
        queued.append(row.id)
    return queued


def claim(session: Session, send_id: int, now: datetime) -> DigestSend | None:
    return retries.claim(session, DigestSend, send_id, now, LEASE)


def contents(session: Session, person: AdminUser, period_start: datetime) -> dict:
    """What the digest says, as data (also what the tests read)."""
    account_id = person.account_id
    week = roles.narrow(dashboard.Filters(since=period_start, until=period_start + timedelta(days=7)), person)
    before = comparison.previous_period(week)
    teams = comparison.attach(dashboard.teams(session, account_id, week), dashboard.teams(session, account_id, before))
    agents = comparison.attach(
        dashboard.agents(session, account_id, week), dashboard.agents(session, account_id, before)
    )
    movers = [
        a
        for a in agents
        if a["rank"] is not None
        and a["previous"]["responses"] >= dashboard.MIN_SAMPLE
        and a["delta"]["csat_lower_bound"] is not None
    ]
    movers.sort(key=lambda a: (-a["delta"]["csat_lower_bound"], a["name"] or ""))
    best = [a for a in movers if a["delta"]["csat_lower_bound"] > 0][:MOVERS]
    worst = [a for a in reversed(movers) if a["delta"]["csat_lower_bound"] < 0][:MOVERS]
    account = session.get(Account, account_id)
    awaiting = dashboard.flagged(
        session, account_id, roles.narrow(dashboard.Filters(since=period_start - timedelta(days=30)), person)
    )
    sent, groups = dashboard.grouped(session, account_id, week).get((), (0, []))
    totals = dashboard.figures(sent, groups, dashboard.account_options(session, account_id))
    sent, groups = dashboard.grouped(session, account_id, before).get((), (0, []))
    previous = dashboard.figures(sent, groups, dashboard.account_options(session, account_id))
    return {
        "account": account,
        "person": person,
        "period_start": period_start,
        "period_end": period_start + timedelta(days=6),
        "totals": {**totals, "delta": comparison.delta(totals, previous)},
        "teams": teams,
        "best": best,
        "worst": worst,
        "negative_comments": negative_comments(session, account, person, period_start),
        "flagged": awaiting,
        "min_sample": dashboard.MIN_SAMPLE,
    }


def negative_comments(session: Session, account: Account, person: AdminUser, period_start: datetime) -> list[dict]:
    """Negative ratings with a comment, first counted last week, newest first."""
    scope = roles.narrow(dashboard.Filters(), person)
    query = (
        select(Rating, Survey)
        .join(Survey, Survey.id == Rating.survey_id)
        .where(
            *dashboard.conditions(account.id, scope),
            Rating.status == "counted",
            Rating.comment != "",
            and_(Rating.counted_at >= period_start, Rating.counted_at < period_start + timedelta(days=7)),
        )
        .order_by(Rating.counted_at.desc(), Rating.id.desc())
    )
    found = []
    for rating, survey in session.execute(query):
        if recovery.is_negative(account, rating):
            found.append({"rating": rating, "survey": survey, "agent": survey.agent_name or survey.agent_email or ""})
        if len(found) == COMMENTS:
            break
    return found


def locale_of(person: AdminUser, account: Account) -> str:
    return i18n.normalise(person.locale, account.locale)


def build_email(session: Session, send: DigestSend, mail_from: str, public_url: str) -> EmailMessage:
    """The digest for one person and week: an HTML part and a plain-text part, in the person's language."""
    person = session.get(AdminUser, send.admin_user_id)
    data = contents(session, person, send.period_start)
    locale = locale_of(person, data["account"])
    env = environment(locale)
    context = {
        **data,
        "dashboard_url": f"{public_url}/admin/?since={send.period_start.date().isoformat()}"
        f"&until={(send.period_start + timedelta(days=7)).date().isoformat()}",
        "preferences_url": f"{public_url}/admin/preferences",
        "lang": i18n.html_lang(locale),
        "direction": i18n.direction(locale),
    }
    sender_name, sender_address = parseaddr(mail_from)
    message = EmailMessage()
    subject = env.get_template("digest/subject.txt").render(context).strip()
    message["Subject"] = " ".join(subject.split())
    message["From"] = Address(display_name=sender_name or "OpenCSAT", addr_spec=sender_address)
    message["To"] = Address(display_name=person.name or "", addr_spec=person.email)
    message["Date"] = format_datetime(
        send.created_at if send.created_at.tzinfo else send.created_at.replace(tzinfo=UTC)
    )
    message["Message-ID"] = f"<opencsat-digest-{send.id}@{sender_address.split('@')[-1]}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(env.get_template("digest/digest.txt").render(context))
    message.add_alternative(env.get_template("digest/digest.html").render(context), subtype="html")
    message["Content-Language"] = i18n.html_lang(locale)  # after the parts: Content-* headers move into the first
    return message


def mark_sent(session: Session, send_id: int, now: datetime) -> None:
    session.execute(
        update(DigestSend).where(DigestSend.id == send_id).values(status=SENT, sent_at=now, last_error=None)
    )


def mark_failed(session: Session, send_id: int, error: str, *, retryable: bool, now: datetime) -> str:
    row = session.get(DigestSend, send_id, populate_existing=True)
    status = retries.retry_or_give_up(
        row, error, retryable=retryable, retry_after=None, now=now, max_attempts=MAX_ATTEMPTS, gave_up=FAILED
    )
    session.flush()
    return status
