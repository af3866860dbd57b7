"""The jobs. Each takes a row id, re-reads and re-checks the row, and is safe to run twice.

Every job claims its row in a transaction of its own, so the attempt counts whatever happens next; then any
exception at all (not only the expected ones) is recorded on the row with a backoff, and after the last attempt
the row is failed/parked with the reason, for a person to see and replay (docs/reliability.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from plugin import accounts, alerts, digest, intake, outbound, recovery, signature_checks, writebacks
from plugin.adapters import WriteBackError, get_adapter
from plugin.channels import delivery, replies
from plugin.channels.email import MailError
from plugin.events import PayloadError, TicketEvent, checked
from plugin.jobs import TASKS
from plugin.models import Account, Alert, OutboundWebhook, Rating, WebhookEvent, WriteBack
from plugin.services import services
from plugin.surveys import counting, sending

log = logging.getLogger(__name__)


def run(task: str, object_id: int) -> str:
    """What RQ runs: tell the queue the job started (so due work can be offered again), then do it."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}")
    services().jobs.started(task, object_id)
    return globals()[task](object_id)


def lease(default: timedelta) -> timedelta:
    """The job's own lease, unless LEASE_SECONDS sets one for all (docs/reliability.md: the bound depends on it)."""
    seconds = services().settings.lease_seconds
    return timedelta(seconds=seconds) if seconds else default


def describe(exc: BaseException) -> str:
    """An exception as a person reads it on the row: its type and message."""
    return f"{type(exc).__name__}: {exc}"[:2000]


def complete_event(event_id: int) -> str:
    """Ask the helpdesk for what an ids-only event left out, then schedule or cancel as usual."""
    s = services()
    with s.db.session() as session:
        row = intake.claim_lookup(session, event_id, s.clock(), lease(intake.LOOKUP_LEASE))
        if row is None:
            return "not due"
        event_json, account_id = row.event_json, row.account_id
    try:
        with s.db.session() as session:
            account = session.get(Account, account_id)
            credentials, platform = accounts.credentials(account, s.box), account.platform
        event = checked(get_adapter(platform).lookup(credentials, TicketEvent.from_json(event_json)))
    except Exception as exc:
        if isinstance(exc, WriteBackError | PayloadError):  # the helpdesk refused, or answered what cannot be kept
            error, retryable = str(exc), getattr(exc, "retryable", False)
        else:
            log.exception("lookup for event %s raised", event_id)
            error, retryable = describe(exc), True
        status = s.db.transaction(
            lambda session: intake.lookup_failed(
                session, event_id, TicketEvent.from_json(event_json), error, retryable=retryable, now=s.clock()
            )
        )
        log.warning("lookup for event %s %s: %s", event_id, status, error)
        return status
    with s.db.session() as session:
        row = session.get(WebhookEvent, event_id, populate_existing=True)
        survey = intake.complete(session, session.get(Account, row.account_id), row, event, s.clock())
    if survey is not None and survey.status == "scheduled" and survey.scheduled_at <= s.clock():
        s.jobs.enqueue("send_survey", survey.id)
    return survey.status if survey else "applied"


def send_survey(survey_id: int) -> str:
    """Send a due survey once, and with it a batch of other due email surveys (sending.claim_due) over the kept
    SMTP connection; each goes out on its channel's provider (plugin/channels/delivery.py), one after the other,
    each recorded sent the moment its provider took it. A full batch offers the next one at once (more may be
    due), so a backlog drains at the worker's pace rather than the sweep's. Returns `survey_id`'s outcome."""
    s = services()
    # Committed at once: a crash below still counts as an attempt, and the lease keeps others off meanwhile.
    surveys = s.db.transaction(
        lambda session: sending.claim_due(session, survey_id, s.clock(), lease(sending.LEASE), sending.BATCH)
    )
    outcomes = {survey.id: delivery.send_survey(s, survey) for survey in surveys}
    if len(surveys) == sending.BATCH:
        following = s.db.transaction(lambda session: sending.next_due(session, s.clock()))
        if following is not None:
            s.jobs.enqueue("send_survey", following)
    return outcomes.get(survey_id, "not due")


def send_channel_message(message_id: int) -> str:
    """Send one queued follow-up or help message on a messaging channel (retried with backoff)."""
    return delivery.send_message(services(), message_id)


def join_sms_parts(part_id: int) -> str:
    """Take a long inbound SMS whose wait for its missing parts is over (plugin/channels/concat.py)."""
    return replies.join_waiting(services(), part_id)


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
    claimed = s.db.transaction(
        lambda session: writebacks.claim(session, write_back_id, s.clock(), lease(writebacks.LEASE))
    )
    if claimed is None:
        return "not due"

    def prepare(session):
        write_back = session.get(WriteBack, write_back_id)
        account = session.get(Account, write_back.account_id)
        report = writebacks.report_for(session, write_back.rating, s.clock())
        return get_adapter(account.platform), accounts.credentials(account, s.box), report

    try:
        adapter, credentials, report = s.db.transaction(prepare)
        adapter.write_back(credentials, report)
    except Exception as exc:
        return _failed("write-back", write_back_id, exc, writebacks.mark_failed, WriteBackError)
    s.db.transaction(lambda session: writebacks.mark_delivered(session, write_back_id, s.clock()))
    return "delivered"


def send_alert(alert_id: int) -> str:
    """Tell the account's Slack channel or email list about one bad rating (or comment); retried, never twice."""
    s = services()
    with s.db.session() as session:
        if alerts.claim(session, alert_id, s.clock()) is None:
            return "not due"
        alert = session.get(Alert, alert_id)
        channel = alert.channel
        if channel == recovery.HELPDESK:  # closing the loop: a call to the helpdesk, not a message
            try:
                call = recovery.helpdesk_call(session, alert, s.box, s.clock())
            except ValueError as exc:  # the option cannot work (no such action on this platform)
                alerts.mark_failed(session, alert_id, str(exc), retryable=False, retry_after=None, now=s.clock())
                return "failed"
    if channel == recovery.HELPDESK:
        return _follow_up_in_helpdesk(alert_id, *call)
    try:
        outgoing = s.db.transaction(
            lambda session: alerts.prepare(session, session.get(Alert, alert_id), s.settings.mail_from, s.box)
        )
        alerts.deliver(outgoing, s.mailer)
    except Exception as exc:
        if isinstance(exc, ValueError):  # the channel was switched off, or an option cannot work
            exc = alerts.AlertError(str(exc), retryable=False)
        return _failed("alert", alert_id, exc, alerts.mark_failed, alerts.AlertError)
    s.db.transaction(lambda session: alerts.mark_sent(session, alert_id, s.clock()))
    return "sent"


def _follow_up_in_helpdesk(alert_id: int, adapter, credentials, report, action: str) -> str:
    """Closing the loop (plugin/recovery.py): reopen the ticket or add a follow-up task, through the adapter."""
    s = services()
    try:
        adapter.follow_up(credentials, report, action)
    except WriteBackError as exc:
        return _failed("follow-up", alert_id, exc, alerts.mark_failed, WriteBackError)
    s.db.transaction(lambda session: alerts.mark_sent(session, alert_id, s.clock()))
    return "sent"


def _failed(
    what: str, object_id: int, exc: Exception, mark_failed: Callable[..., str], expected: type[Exception]
) -> str:
    """An attempt that raised: its row marked (the next attempt scheduled, or given up), and the status it got. An
    `expected` error carries whether trying later can help (retryable, retry_after); any other is logged with its
    traceback and tried again."""
    if isinstance(exc, expected):
        error, retryable, retry_after = str(exc), exc.retryable, exc.retry_after
    else:
        log.exception("%s %s raised", what, object_id)
        error, retryable, retry_after = describe(exc), True, None
    s = services()
    status = s.db.transaction(
        lambda session: mark_failed(
            session, object_id, error, retryable=retryable, retry_after=retry_after, now=s.clock()
        )
    )
    log.warning("%s %s %s: %s", what, object_id, status, error)
    return status


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
        webhook_id, body = hook.id, delivery.payload
    try:
        with s.db.session() as session:
            hook = session.get(OutboundWebhook, webhook_id)
            url, secret = hook.url, s.box.decrypt(hook.secret_encrypted)
        code = outbound.send(url, secret, delivery_id, body, s.clock())
    except Exception as exc:
        if not isinstance(exc, outbound.DeliveryError):
            log.exception("webhook delivery %s raised", delivery_id)
            exc = outbound.DeliveryError(describe(exc), retryable=True)
        status = s.db.transaction(partial(outbound.mark_failed, delivery_id=delivery_id, error=exc, now=s.clock()))
        log.warning("webhook delivery %s %s: %s", delivery_id, status, exc)
        return status
    s.db.transaction(lambda session: outbound.mark_delivered(session, delivery_id, code, s.clock()))
    return "delivered"


def verify_signature(check_id: int) -> str:
    """Ask the helpdesk who holds a signature rating's ticket; release the rating when it is the link's agent."""
    s = services()
    with s.db.session() as session:
        check = signature_checks.claim_lookup(session, check_id, s.clock())
        if check is None:
            return "not due"
        account = session.get(Account, check.account_id)
        credentials = accounts.credentials(account, s.box)
        event = signature_checks.lookup_event(check)
    try:
        event = get_adapter(account.platform).lookup(credentials, event)
    except WriteBackError as exc:
        status = s.db.transaction(
            partial(
                signature_checks.lookup_failed,
                check_id=check_id,
                error=str(exc),
                retryable=exc.retryable,
                now=s.clock(),
            )
        )
        log.warning("signature check %s %s: %s", check_id, status, exc)
        return status
    write_back = s.db.transaction(lambda session: signature_checks.lookup_answered(session, check_id, event, s.clock()))
    if write_back is None:
        return "not confirmed"
    s.jobs.enqueue("deliver_write_back", write_back.id)
    return "verified"


def check_sidebar_access(access_id: int) -> str:
    """Ask Zendesk whether a sidebar viewer may see a ticket (and colleagues' figures); cached on the row."""
    from plugin.sidebar import zendesk

    s = services()
    with s.db.session() as session:
        row = zendesk.claim_check(session, access_id, s.clock())
        if row is None:
            return "not due"
        account = session.get(Account, row.account_id)
        credentials = accounts.credentials(account, s.box)
        user_id, ticket_id, leads = row.user_id, row.ticket_id, zendesk.team_leads(account)
    adapter = get_adapter("zendesk")
    try:
        decision = zendesk.decide(lambda path: adapter.read(credentials, path), user_id, ticket_id, leads)
    except WriteBackError as exc:
        status = s.db.transaction(
            partial(zendesk.check_failed, access_id=access_id, error=str(exc), retryable=exc.retryable, now=s.clock())
        )
        log.warning("sidebar access check %s %s: %s", access_id, status, exc)
        return status
    s.db.transaction(lambda session: zendesk.checked(session, access_id, decision, s.clock()))
    return "allowed" if decision.allowed else "denied"


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
        status = s.db.transaction(
            partial(digest.mark_failed, send_id=send_id, error=str(exc), retryable=not exc.permanent, now=s.clock())
        )
        log.warning("digest %s %s: %s", send_id, status, exc)
        return status
    s.db.transaction(lambda session: digest.mark_sent(session, send_id, s.clock()))
    return "sent"
