"""Sending on a messaging channel: a survey's question (from the send_survey job) and queued follow-ups.

A provider's refusal is never lost: the message row keeps the provider's code and text; a permanent one fails the
survey with that reason and, where another channel can reach the person, reschedules it there (an opt-out also
puts the number on the unsubscribe list); 429 and 5xx retry with backoff, never sooner than Retry-After.
Quiet hours (account options quiet_hours "21:00-08:00" and timezone, off unless set) defer phone channels.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from plugin import i18n, retries
from plugin.channels import choice, configs, sms
from plugin.channels import email as email_channel
from plugin.channels.base import Outgoing, SendError, Status, further
from plugin.channels.email import branding
from plugin.models import Account, ChannelMessage, Survey, Unsubscribe
from plugin.surveys import sending
from plugin.surveys.scales import custom_question, scale_for
from plugin.surveys.scheduling import FAILED, SCHEDULED

log = logging.getLogger(__name__)
MESSAGE_LEASE = timedelta(minutes=2)
MAX_MESSAGE_ATTEMPTS = 6
WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window


def link_serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt="channel-link")


def short_link(secret_key: str, public_url: str, survey_id: int) -> str:
    """The fallback link in an SMS: a page with the scale, each choice a normal rating link (scanner-aware)."""
    return f"{public_url}/c/{link_serializer(secret_key).dumps(survey_id)}"


def read_short_link(secret_key: str, token: str) -> int | None:
    try:
        value = link_serializer(secret_key).loads(token)
    except BadSignature:
        return None
    return value if type(value) is int else None


def quiet_until(options: dict, now: datetime) -> datetime | None:
    """When the account's quiet hours end, if `now` falls inside them; None otherwise (or when unset/unreadable)."""
    window = str((options or {}).get("quiet_hours") or "").strip()
    if not window:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in window.split("-"))
        zone = ZoneInfo(str(options.get("timezone") or "UTC"))
    except (ValueError, ZoneInfoNotFoundError):
        return None
    local = now.astimezone(zone)
    inside = start <= local.time() or local.time() < end if start > end else start <= local.time() < end
    if not inside:
        return None
    opening = datetime.combine(local.date(), end, zone)
    return (opening if opening > local else opening + timedelta(days=1)).astimezone(now.tzinfo)


def send_survey(s, survey: Survey) -> str:
    """The one way out for a claimed survey (sending.claim_due): its channel's provider. Email's provider is the
    app's mailer, which keeps its SMTP connection across surveys; the others are in configs.PROVIDERS."""
    if survey.channel == "email":
        return email_channel.send_survey(s, survey)
    return send_question(s, survey.id)


def send_question(s, survey_id: int) -> str:
    """Send a claimed survey's question on its channel (the survey row was claimed by sending.claim)."""
    from plugin.channels import chat

    now = s.clock()
    with s.db.session() as session:
        survey = session.get(Survey, survey_id)
        account, claimed_reason = survey.account, survey.reason
        provider_name = configs.providers_for(session, account).get(survey.channel)
        config = configs.load(session, s.box, account, provider_name, s.settings.public_url) if provider_name else None
        if config is None:
            return _fall_back(session, survey, f"no {survey.channel} provider is set up", now, s.jobs)
        config = _in_conversation_account(config, survey)
        deferred = quiet_until(account.options, now) if survey.channel in configs.MESSAGING else None
        if deferred:
            survey.scheduled_at, survey.reason = deferred, "quiet hours"
            return "deferred"
        outgoing = compose(session, survey, account, config, s, now)
        row = ChannelMessage(
            account_id=account.id,
            survey_id=survey.id,
            provider=provider_name,
            direction="out",
            kind="question",
            dedupe_key=f"question:{survey.id}:{survey.attempts}",
            our_address=config.sender[:100],
            their_address=outgoing.to[:100],
            body=outgoing.text,
            status="sending",
            attempts=1,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        row_id, provider = row.id, configs.provider_module(provider_name)

    # What the provider answered is recorded in transactions retried on a dropped connection (Database.transaction):
    # a message the provider took and we failed to record would be sent again once the claim's lease ran out.
    def skipped_for_chatwoots_survey(session: Session) -> str:
        _finish(session, row_id, "skipped", None, "the conversation already has Chatwoot's CSAT survey", now)
        session.execute(update(Survey).where(Survey.id == survey_id).values(status="skipped", reason="helpdesk_survey"))
        return "skipped"

    def refused(session: Session, error: SendError) -> str:
        _finish(session, row_id, "failed", error.code, str(error), now)
        return _refused(session, session.get(Survey, survey_id), error, now, s.jobs)

    def taken(session: Session) -> str:
        message = session.get(ChannelMessage, row_id)
        message.provider_message_id, message.updated_at = sent.provider_message_id, now
        if message.status == "sending":
            message.status = sent.status
        _catch_up(session, message)
        sending.mark_sent(session, survey_id, sent.provider_message_id, now, reason=claimed_reason)
        return "sent"

    try:
        if survey.channel == "chat" and chat.PROVIDER.has_own_survey(config, outgoing.conversation):
            return s.db.transaction(skipped_for_chatwoots_survey)
        sent = provider.send(config, outgoing)
    except SendError as exc:
        return s.db.transaction(partial(refused, error=exc))
    return s.db.transaction(taken)


def _catch_up(session, message: ChannelMessage) -> None:
    """Apply delivery reports that arrived before we knew the message's id (a fast callback races the send)."""
    early = session.scalars(
        select(ChannelMessage).where(
            ChannelMessage.account_id == message.account_id,
            ChannelMessage.provider == message.provider,
            ChannelMessage.kind == "status",
            ChannelMessage.provider_message_id == message.provider_message_id,
        )
    )
    for report in early:
        if further(message.status, report.status):
            message.status, message.error_code, message.error_message = (
                report.status,
                report.error_code,
                report.error_message,
            )


def compose(session, survey: Survey, account: Account, config, s, now: datetime) -> Outgoing:
    """The question as this survey's channel shows it, in the survey's language."""
    from plugin.channels import chat, whatsapp

    locale = i18n.normalise(survey.locale, account.locale)
    scale = scale_for(survey.scale, account.options)
    question = custom_question(account.options, locale)
    company = branding(account, s.settings.mail_from).company
    if survey.channel == "sms":
        link = short_link(s.settings.secret_key, s.settings.public_url, survey.id)
        return Outgoing(
            to=survey.requester_phone,
            text=sms.question_text(scale, locale, company, question, link),
            reference=f"survey-{survey.id}",
        )
    if survey.channel == "whatsapp":
        # After a 131047 (Twilio: 63016) the window has closed whatever our records say: the template it is.
        retrying = (survey.reason or "").split(":")[0] in whatsapp.WINDOW_CLOSED
        open_window = not retrying and _window_open(session, account.id, config.provider, survey.requester_phone, now)
        return whatsapp.compose(survey, scale, locale, question, config, s.tokens, open_window)
    return chat.compose(survey, scale, locale, question)


def _window_open(session, account_id: int, provider: str, phone: str, now: datetime) -> bool:
    digits = phone.lstrip("+")
    return (
        session.scalar(
            select(ChannelMessage.id).where(
                ChannelMessage.account_id == account_id,
                ChannelMessage.provider == provider,
                ChannelMessage.direction == "in",
                ChannelMessage.kind == "reply",
                ChannelMessage.their_address.in_((phone, digits)),
                ChannelMessage.created_at > now - WINDOW,
            )
        )
        is not None
    )


def _finish(session, row_id: int, status: str, code: str | None, error: str | None, now: datetime) -> None:
    row = session.get(ChannelMessage, row_id)
    row.status, row.error_code, row.error_message, row.updated_at = status, code, (error or "")[:2000] or None, now


def _refused(session, survey: Survey, exc: SendError, now: datetime, jobs) -> str:
    if exc.opted_out and survey.requester_phone:
        phone = survey.requester_phone
        listed = select(Unsubscribe.id).where(Unsubscribe.account_id == survey.account_id, Unsubscribe.email == phone)
        if session.scalar(listed) is None:
            session.add(Unsubscribe(account_id=survey.account_id, email=phone, created_at=now))
    if not exc.permanent:
        status = sending.mark_send_failed(session, survey.id, str(exc), permanent=False, now=now)
        if status == SCHEDULED and exc.retry_after:
            survey.scheduled_at = max(survey.scheduled_at, now + timedelta(seconds=exc.retry_after))
        return status
    if exc.fallback or exc.opted_out:
        return _fall_back(session, survey, str(exc), now, jobs)
    survey.status, survey.reason = FAILED, str(exc)[:2000]
    return FAILED


def _fall_back(session, survey: Survey, reason: str, now: datetime, jobs) -> str:
    """Reschedule on the next channel that can reach the person, or fail with the reason."""
    contact = choice.Contact(email=survey.requester_email, phone=survey.requester_phone, chat=False)
    tried = {survey.channel} | _tried(session, survey)
    following = choice.next_channel(session, survey.account, contact, tried)
    if following is None:
        survey.status, survey.reason = FAILED, reason[:2000]
        return FAILED
    survey.reason = sending.fell_back(following, reason, survey.reason)
    survey.channel, survey.status, survey.scheduled_at = following, SCHEDULED, now
    session.flush()
    jobs.enqueue("send_survey", survey.id)
    return "fallback"


def _tried(session, survey: Survey) -> set[str]:
    providers = session.scalars(
        select(ChannelMessage.provider).where(ChannelMessage.survey_id == survey.id, ChannelMessage.kind == "question")
    )
    return {configs.PROVIDERS[name] for name in providers if name in configs.PROVIDERS}


def question_failed(session, message: ChannelMessage, status: Status, now: datetime) -> int | None:
    """A delivery report says the question failed: WhatsApp 131047 resends as the template, else fall back.

    Returns the survey id to enqueue again, or None.
    """
    survey = session.get(Survey, message.survey_id)
    if survey is None or survey.status != "sent":
        return None
    reason = f"{message.provider} {status.error_code or ''} {status.error_message or status.status}".strip()
    from plugin.channels.whatsapp import WINDOW_CLOSED

    if status.error_code in WINDOW_CLOSED and not message.body.startswith("template:"):
        reason = f"{status.error_code}: outside the 24-hour window"
        survey.status, survey.scheduled_at, survey.reason = SCHEDULED, now, reason
        session.flush()
        return survey.id
    contact = choice.Contact(email=survey.requester_email, phone=survey.requester_phone, chat=False)
    following = choice.next_channel(session, survey.account, contact, {survey.channel} | _tried(session, survey))
    if following is None:
        survey.status, survey.reason = FAILED, reason[:2000]
        return None
    survey.reason = sending.fell_back(following, reason, survey.reason)
    survey.channel, survey.status, survey.scheduled_at = following, SCHEDULED, now
    session.flush()
    return survey.id


def send_message(s, message_id: int) -> str:
    """Deliver one queued follow-up or help message; retried with backoff (Retry-After honoured), then failed."""
    now = s.clock()
    with s.db.session() as session:
        row = retries.claim(session, ChannelMessage, message_id, now, MESSAGE_LEASE)
        if row is None:
            return "not due"
        survey = session.get(Survey, row.survey_id)
        config = configs.load(session, s.box, survey.account, row.provider, s.settings.public_url)
        config = _in_conversation_account(config, survey) if config else None
        outgoing = Outgoing(
            to=row.their_address,
            text=row.body,
            reference=f"survey-{survey.id}",
            conversation=survey.ticket_id if row.provider == "chatwoot" else None,
        )
        provider = configs.provider_module(row.provider)
    try:
        if config is None:
            raise SendError(f"the {row.provider} channel was removed", permanent=True)
        sent = provider.send(config, outgoing)
    except SendError as exc:
        status = s.db.transaction(partial(_message_refused, message_id=message_id, error=exc, now=now))
        log.warning("channel message %s %s: %s", message_id, status, exc)
        return status

    def taken(session: Session) -> str:
        row = session.get(ChannelMessage, message_id)
        row.status, row.provider_message_id, row.updated_at = sent.status, sent.provider_message_id, now
        return "sent"

    return s.db.transaction(taken)


def _message_refused(session: Session, message_id: int, error: SendError, now) -> str:
    """A follow-up or help message the provider refused: tried again with backoff, or failed after the last try."""
    row = session.get(ChannelMessage, message_id)
    row.error_code = error.code
    status = retries.retry_or_give_up(
        row,
        str(error),
        retryable=not error.permanent,
        retry_after=error.retry_after,
        now=now,
        max_attempts=MAX_MESSAGE_ATTEMPTS,
        gave_up="failed",
    )
    row.error_message = row.last_error
    return status


def _in_conversation_account(config, survey: Survey):
    """Chatwoot's account id from the conversation's URL when the account's options do not give it."""
    if config.provider != "chatwoot" or config.settings.get("account_id"):
        return config
    from plugin.channels.chat import account_id_of

    return replace(config, settings={**config.settings, "account_id": account_id_of(survey.ticket_url, {})})
