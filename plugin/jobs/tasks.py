"""The jobs. Each takes a row id, re-reads and re-checks the row, and is safe to run twice."""

from __future__ import annotations

import logging

from plugin import accounts, alerts, digest, intake, outbound, recovery, writebacks
from plugin.adapters import WriteBackError, get_adapter
from plugin.channels.email import MailError, build_survey_email, survey_links
from plugin.events import TicketEvent
from plugin.models import Account, OutboundWebhook, Rating, WebhookEvent
from plugin.services import services
from plugin.surveys import counting, sending

log = logging.getLogger(__name__)


def complete_event(event_id: int) -> str:
    """Ask the helpdesk for what an ids-only event left out, then schedule or cancel as usual."""
    s = services()
    with s.db.session() as session:
        row = intake.claim_lookup(session, event_id, s.clock())
        if row is None:
            return "not due"
        account = session.get(Account, row.account_id)
        credentials = accounts.credentials(account, s.box)
        event = TicketEvent.from_json(row.event_json)
    try:
        event = get_adapter(account.platform).lookup(credentials, event)
    except WriteBackError as exc:
        with s.db.session() as session:
            status = intake.lookup_failed(session, event_id, event, str(exc), retryable=exc.retryable, now=s.clock())
        log.warning("lookup for event %s %s: %s", event_id, status, exc)
        return status
    with s.db.session() as session:
        row = session.get(WebhookEvent, event_id, populate_existing=True)
        survey = intake.complete(session, session.get(Account, row.account_id), row, event, s.clock())
    if survey is not None and survey.status == "scheduled" and survey.scheduled_at <= s.clock():
        s.jobs.enqueue("send_survey", survey.id)
    return survey.status if survey else "applied"


def send_survey(survey_id: int) -> str:
    """Send a due survey email once; a transient SMTP failure reschedules it, a permanent one fails it."""
    s = services()
    with s.db.session() as session:
        survey = sending.claim(session, survey_id, s.clock())
        if survey is None:
            return "not due"
        message = build_survey_email(
            survey, survey.account, survey_links(survey, s.tokens, s.settings.public_url), s.settings.mail_from
        )
    try:
        s.mailer.send(message)
    except MailError as exc:
        with s.db.session() as session:
            status = sending.mark_send_failed(session, survey_id, str(exc), permanent=exc.permanent, now=s.clock())
        log.warning("survey %s not sent (%s): %s", survey_id, status, exc)
        return status
    with s.db.session() as session:
        sending.mark_sent(session, survey_id, message["Message-ID"], s.clock())
    return "sent"


def settle_rating(rating_id: int) -> str:
    """Count a pending click whose settle window has passed, then deliver it."""
    s = services()
    with s.db.session() as session:
        rating = session.get(Rating, rating_id)
        if rating is None:
            return "not due"
        require = str(rating.survey.account.options.get("require_rendered_page", "true")).lower() != "false"
        write_back = counting.settle(session, rating_id, s.clock(), require_rendered=require)
    if write_back is None:
        return "not due"
    s.jobs.enqueue("deliver_write_back", write_back.id)
    return "counted"


def deliver_write_back(write_back_id: int) -> str:
    """Write one rating back to the helpdesk; failures are retried by the sweep or parked."""
    s = services()
    with s.db.session() as session:
        write_back = writebacks.claim(session, write_back_id, s.clock())
        if write_back is None:
            return "not due"
        account = session.get(Account, write_back.account_id)
        report = writebacks.report_for(session, write_back.rating, s.clock())
        credentials = accounts.credentials(account, s.box)
        adapter = get_adapter(account.platform)
    try:
        adapter.write_back(credentials, report)
    except WriteBackError as exc:
        with s.db.session() as session:
            status = writebacks.mark_failed(
                session, write_back_id, str(exc), retryable=exc.retryable, retry_after=exc.retry_after, now=s.clock()
            )
        log.warning("write-back %s %s: %s", write_back_id, status, exc)
        return status
    with s.db.session() as session:
        writebacks.mark_delivered(session, write_back_id, s.clock())
    return "delivered"


def send_alert(alert_id: int) -> str:
    """Tell the account's Slack channel or email list about one bad rating (or comment); retried, never twice."""
    s = services()
    with s.db.session() as session:
        alert = alerts.claim(session, alert_id, s.clock())
        if alert is None:
            return "not due"
        try:
            if alert.channel == recovery.HELPDESK:  # closing the loop: a call to the helpdesk, not a message
                call = recovery.helpdesk_call(session, alert, s.box, s.clock())
            else:
                outgoing = alerts.prepare(session, alert, s.settings.mail_from)
        except ValueError as exc:  # the channel was switched off, or an option cannot work
            alerts.mark_failed(session, alert_id, str(exc), retryable=False, retry_after=None, now=s.clock())
            return "failed"
    if alert.channel == recovery.HELPDESK:
        return _follow_up_in_helpdesk(alert_id, *call)
    try:
        alerts.deliver(outgoing, s.mailer)
    except alerts.AlertError as exc:
        with s.db.session() as session:
            status = alerts.mark_failed(
                session, alert_id, str(exc), retryable=exc.retryable, retry_after=exc.retry_after, now=s.clock()
            )
        log.warning("alert %s %s: %s", alert_id, status, exc)
        return status
    with s.db.session() as session:
        alerts.mark_sent(session, alert_id, s.clock())
    return "sent"


def _follow_up_in_helpdesk(alert_id: int, adapter, credentials, report, action: str) -> str:
    """Closing the loop (plugin/recovery.py): reopen the ticket or add a follow-up task, through the adapter."""
    s = services()
    try:
        adapter.follow_up(credentials, report, action)
    except WriteBackError as exc:
        with s.db.session() as session:
            status = alerts.mark_failed(
                session, alert_id, str(exc), retryable=exc.retryable, retry_after=exc.retry_after, now=s.clock()
            )
        log.warning("follow-up %s %s: %s", alert_id, status, exc)
        return status
    with s.db.session() as session:
        alerts.mark_sent(session, alert_id, s.clock())
    return "sent"


def deliver_webhook(delivery_id: int) -> str:
    """POST one signed rating change to one of the account's webhook URLs; retried with backoff, then failed."""
    s = services()
    with s.db.session() as session:
        delivery = outbound.claim(session, delivery_id, s.clock())
        if delivery is None:
            return "not due"
        hook = session.get(OutboundWebhook, delivery.webhook_id)
        if not hook.active:  # removed after this change was queued: its owner asked for no more calls
            return outbound.mark_failed(
                session, delivery_id, outbound.DeliveryError("the webhook was removed", retryable=False), s.clock()
            )
        url, secret, body = hook.url, s.box.decrypt(hook.secret_encrypted), delivery.payload
    try:
        code = outbound.send(url, secret, delivery_id, body, s.clock())
    except outbound.DeliveryError as exc:
        with s.db.session() as session:
            status = outbound.mark_failed(session, delivery_id, exc, s.clock())
        log.warning("webhook delivery %s %s: %s", delivery_id, status, exc)
        return status
    with s.db.session() as session:
        outbound.mark_delivered(session, delivery_id, code, s.clock())
    return "delivered"


def send_digest(send_id: int) -> str:
    """Mail one person's weekly digest (plugin/digest.py); once per person and week, retried on SMTP trouble."""
    s = services()
    with s.db.session() as session:
        row = digest.claim(session, send_id, s.clock())
        if row is None:
            return "not due"
        message = digest.build_email(session, row, s.settings.mail_from, s.settings.public_url)
    try:
        s.mailer.send(message)
    except MailError as exc:
        with s.db.session() as session:
            status = digest.mark_failed(session, send_id, str(exc), retryable=not exc.permanent, now=s.clock())
        log.warning("digest %s %s: %s", send_id, status, exc)
        return status
    with s.db.session() as session:
        digest.mark_sent(session, send_id, s.clock())
    return "sent"
