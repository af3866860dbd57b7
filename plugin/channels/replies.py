"""What people send back on a messaging channel: a score counts at once, then one follow-up question whose answer
is the comment; STOP / START change the account's unsubscribe list; anything else gets one help message, never a
loop. Delivery reports move our messages forward (furthest state wins) and fail a survey whose question failed.

Attribution, in order: a tapped button's signed payload; the message it answers (WhatsApp context.id, a Chatwoot
message id); else the latest question sent to that person (their number, and our number when we know it) within
REPLY_DAYS. No Flask here: the inbound route verifies, parses and calls `take_in`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from plugin.channels import concat, configs, sms
from plugin.channels.base import FINAL_FAILURES, Reply, Status, further
from plugin.models import Account, ChannelMessage, Click, Survey, Unsubscribe
from plugin.surveys import counting
from plugin.surveys.scales import scale_for
from plugin.tokens import InvalidToken, Tokens

REPLY_DAYS = 7
OUT, IN = "out", "in"
QUESTION, FOLLOW_UP, HELP = "question", "followup", "help"
METHOD = {"sms": "SMS", "whatsapp": "WHATSAPP", "chat": "CHAT"}  # the Click.method of a reply


@dataclass
class Outcome:
    """What the caller enqueues once the transaction is committed."""

    write_backs: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)  # channel messages to send
    surveys: list[int] = field(default_factory=list)  # surveys to send again (fallback after a failure)
    duplicates: int = 0


def take_in(
    session: Session, account: Account, provider: str, channel: str, items, tokens: Tokens, now: datetime
) -> Outcome:
    """Apply every reply and status of one verified inbound request; a repeated delivery changes nothing.

    A part of a long SMS is kept until its message is whole (plugin/channels/concat.py), then read as one reply.
    """
    outcome = Outcome()
    for item in map(_without_nul, items):
        if isinstance(item, concat.Part):
            item = concat.take(session, account.id, provider, item, now)
            if item is None:
                continue  # more parts to come (or a repeated part)
        if isinstance(item, Status):
            _status(session, account, provider, item, now, outcome)
        else:
            _reply(session, account, provider, channel, item, tokens, now, outcome)
    return outcome


def enqueue(jobs, outcome: Outcome) -> None:
    """The work a committed Outcome asks for."""
    for write_back_id in outcome.write_backs:
        jobs.enqueue("deliver_write_back", write_back_id)
    for message_id in outcome.messages:
        jobs.enqueue("send_channel_message", message_id)
    for survey_id in outcome.surveys:
        jobs.enqueue("send_survey", survey_id)


def join_waiting(s, part_id: int) -> str:
    """A long SMS whose wait is over: the parts received are the message (the join_sms_parts job)."""
    with s.db.session() as session:
        now = s.clock()
        joined = concat.join_due(session, part_id, now)
        if joined is None:
            return "not due"
        account_id, provider, reply = joined
        account = session.get(Account, account_id)
        outcome = take_in(session, account, provider, configs.PROVIDERS[provider], [reply], s.tokens, now)
    enqueue(s.jobs, outcome)
    return "joined"


def _without_nul(item: Reply | Status) -> Reply | Status:
    """NUL removed from every text: PostgreSQL text cannot hold it, and no person types it (Chatwoot does the same)."""
    cleaned = {
        name: value.replace("\x00", "")
        for name, value in vars(item).items()
        if isinstance(value, str) and "\x00" in value
    }
    return replace(item, **cleaned) if cleaned else item


def _store(session: Session, values: dict) -> int | None:
    """Insert a channel message unless its dedupe key was seen; its id, or None for a duplicate."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(ChannelMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["account_id", "provider", "dedupe_key"])
        .returning(ChannelMessage.id)
    )
    return session.scalar(statement)


def _reply(session, account, provider, channel, reply: Reply, tokens, now, outcome: Outcome) -> None:
    row_id = _store(
        session,
        dict(
            account_id=account.id,
            provider=provider,
            direction=IN,
            kind="reply",
            dedupe_key=f"in:{reply.provider_message_id}"[:200],
            provider_message_id=reply.provider_message_id[:200],
            our_address=reply.our_address[:100],
            their_address=reply.their_address[:100],
            body=(reply.text or reply.payload or "")[:4000],
            status="received",
            attempts=0,
            created_at=now,
            updated_at=now,
        ),
    )
    if row_id is None:
        outcome.duplicates += 1
        return
    row = session.get(ChannelMessage, row_id)
    survey, score = _attribute(session, account, provider, reply, tokens, now)
    row.survey_id = survey.id if survey else None
    scale = scale_for(survey.scale if survey else account.scale, account.options)
    meaning = sms.Meaning("score", score) if score is not None else sms.interpret(scale, reply.text)
    if meaning.kind in ("stop", "start") and channel in ("sms", "whatsapp"):
        row.status = _opt(session, account, reply.their_address, meaning.kind == "stop", now)
        return
    if survey is None:
        row.status = "orphan"  # kept for the admin; nothing to attribute it to
        return
    rating = counting.rating_of(session, survey)
    try:
        if meaning.kind == "score":
            comment = rating.comment if rating else ""
            outcome.write_backs.append(_count(session, survey, meaning.score, comment, channel, now))
            row.status = "rated"
            if not _sent_kind(session, survey, FOLLOW_UP):
                outcome.messages.append(
                    _queue(session, survey, provider, reply, FOLLOW_UP, sms.follow_up_text(survey.locale), now)
                )
        elif rating is not None and meaning.kind == "text" and _sent_kind(session, survey, FOLLOW_UP):
            comment = reply.text.strip() if not rating.comment else f"{rating.comment}\n{reply.text.strip()}"
            comment = comment[: counting.MAX_COMMENT_CHARS]
            outcome.write_backs.append(_count(session, survey, rating.score, comment, channel, now))
            row.status = "commented"
        elif rating is None and not _sent_kind(session, survey, HELP):
            text = sms.help_text(scale, survey.locale)
            outcome.messages.append(_queue(session, survey, provider, reply, HELP, text, now))
            row.status = "not_understood"
        else:
            row.status = "ignored"  # one help message per survey: never a loop
    except counting.RatingClosed:
        row.status = "closed"


def _attribute(session, account, provider, reply: Reply, tokens: Tokens, now) -> tuple[Survey | None, int | None]:
    """The survey a reply answers, and the score when a tapped button carried it."""
    if reply.payload and reply.payload.startswith("r:"):
        try:
            link = tokens.read_rating(reply.payload[2:])
        except InvalidToken:
            link = None
        survey = session.get(Survey, link.survey_id) if link else None
        if survey is not None and survey.account_id == account.id:
            return survey, link.score
    if reply.context_id:
        survey_id = session.scalar(
            select(ChannelMessage.survey_id).where(
                ChannelMessage.account_id == account.id,
                ChannelMessage.provider == provider,
                ChannelMessage.direction == OUT,
                ChannelMessage.provider_message_id == reply.context_id,
            )
        )
        if survey_id:
            return session.get(Survey, survey_id), None
    latest = session.scalars(
        select(ChannelMessage)
        .where(
            ChannelMessage.account_id == account.id,
            ChannelMessage.provider == provider,
            ChannelMessage.direction == OUT,
            ChannelMessage.kind == QUESTION,
            ChannelMessage.their_address == reply.their_address,
            ChannelMessage.created_at > now - timedelta(days=REPLY_DAYS),
            ChannelMessage.status.not_in(FINAL_FAILURES),
        )
        .order_by(ChannelMessage.id.desc())
        .limit(5)
    )
    for question in latest:
        if not question.our_address or not reply.our_address or question.our_address == reply.our_address:
            return session.get(Survey, question.survey_id), None
    return None, None


def _count(session, survey: Survey, score: int, comment: str, channel: str, now: datetime) -> int:
    """A reply is a person's answer: it counts at once, as a confirmation does (DESIGN: no scanner rules)."""
    reply = counting.LinkRequest("POST", f"{channel} reply", "", now)
    write_back = counting.confirm(session, survey, score, comment, reply)
    confirm = session.scalars(
        select(Click).where(Click.survey_id == survey.id).order_by(Click.id.desc()).limit(1)
    ).first()
    if confirm is not None:
        confirm.method = METHOD.get(channel, "REPLY")
    return write_back.id


def _sent_kind(session, survey: Survey, kind: str) -> bool:
    return (
        session.scalar(
            select(ChannelMessage.id).where(
                ChannelMessage.survey_id == survey.id, ChannelMessage.direction == OUT, ChannelMessage.kind == kind
            )
        )
        is not None
    )


def _queue(session, survey: Survey, provider: str, reply: Reply, kind: str, text: str, now: datetime) -> int:
    """A message to send by job (send_channel_message), to the person who wrote, from the number they wrote to."""
    row = ChannelMessage(
        account_id=survey.account_id,
        survey_id=survey.id,
        provider=provider,
        direction=OUT,
        kind=kind,
        dedupe_key=f"{kind}:{survey.id}",
        our_address=reply.our_address[:100],
        their_address=reply.their_address[:100],
        body=text,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row.id


def _opt(session, account: Account, phone: str, stop: bool, now: datetime) -> str:
    """STOP puts the number on the account's unsubscribe list (the same list as email addresses); START lifts it."""
    address = phone.removeprefix("whatsapp:")
    if not address.startswith("+") and address.isdigit():
        address = "+" + address  # WhatsApp and Vonage write numbers without the plus
    listed = select(Unsubscribe.id).where(Unsubscribe.account_id == account.id, Unsubscribe.email == address)
    if stop:
        if session.scalar(listed) is None:
            session.add(Unsubscribe(account_id=account.id, email=address, created_at=now))
        return "opted_out"
    session.execute(delete(Unsubscribe).where(Unsubscribe.account_id == account.id, Unsubscribe.email == address))
    return "resubscribed"


def _status(session, account, provider, status: Status, now, outcome: Outcome) -> None:
    stored = _store(
        session,
        dict(
            account_id=account.id,
            provider=provider,
            direction=IN,
            kind="status",
            dedupe_key=f"status:{status.provider_message_id}:{status.status}:{status.error_code or ''}"[:200],
            provider_message_id=status.provider_message_id[:200],
            body="",
            status=status.status[:20],
            error_code=(status.error_code or None) and status.error_code[:20],
            error_message=(status.error_message or None),
            our_address="",
            their_address="",
            attempts=0,
            created_at=now,
            updated_at=now,
        ),
    )
    if stored is None:
        outcome.duplicates += 1
        return
    message = session.scalar(
        select(ChannelMessage).where(
            ChannelMessage.account_id == account.id,
            ChannelMessage.provider == provider,
            ChannelMessage.direction == OUT,
            ChannelMessage.provider_message_id == status.provider_message_id,
        )
    )
    if message is None or not further(message.status, status.status):
        return  # unknown, repeated or older news: recorded above, changes nothing
    message.status, message.updated_at = status.status, now
    if status.error_code:
        message.error_code, message.error_message = status.error_code[:20], status.error_message
    session.get(ChannelMessage, stored).survey_id = message.survey_id
    if status.status in FINAL_FAILURES and message.kind == QUESTION and message.survey_id:
        from plugin.channels import delivery  # the failure path is the sender's

        again = delivery.question_failed(session, message, status, now)
        if again:
            outcome.surveys.append(again)
