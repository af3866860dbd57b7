"""POST /webhooks/<platform>/<account_key>: verify, parse, store once, answer fast; the job does the rest."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from plugin import accounts, signature_checks
from plugin.adapters import PLATFORMS, get_adapter
from plugin.events import IGNORED, PayloadError, checked
from plugin.intake import StaleAccount, take_in
from plugin.jsonbody import check_body
from plugin.services import services
from plugin.signing import SignatureError
from plugin.web.errors import json_error

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)


class _ReadAgain(Exception):
    """The account this process remembered may be out of date: forget it and take the request in again."""


@bp.post("/webhooks/<platform>/<account_key>")
def receive(platform: str, account_key: str):
    s = services()
    if platform not in PLATFORMS:
        return json_error(404, f"unknown platform {platform!r}; one of {', '.join(PLATFORMS)}")
    if request.content_length is not None and request.content_length > s.settings.max_body_bytes:
        return json_error(413, f"body is larger than {s.settings.max_body_bytes} bytes")
    if not request.is_json:
        return json_error(415, "Content-Type must be application/json")
    known = accounts.cache_for(s.db.engine)
    for _ in range(3):  # a copy read from the row itself goes stale only if the account changes again meanwhile
        try:
            return _take_in(platform, account_key, known)
        except _ReadAgain:
            known.forget(account_key)
    # Nothing written; the helpdesk retries a 5xx (as when the database is away: plugin/web/errors.py).
    answer = json_error(503, "the account was being changed; try again")
    answer.headers["Retry-After"] = "5"
    return answer


def _release(pair: dict, now) -> None:
    """The event named a (ticket, agent) pair with a signature rating held: release it now, in a transaction of its
    own. Should that fail, the event is kept all the same and the next event naming the pair releases it."""
    try:
        services().db.transaction(lambda session: signature_checks.release(session, pair, now))
    except SQLAlchemyError:
        log.exception("releasing the signature ratings held for %s failed; the next event naming them will", pair)


def _take_in(platform: str, account_key: str, known: accounts.AccountCache):
    s = services()
    with s.db.statement_session() as session:  # on PostgreSQL the intake is one statement: no BEGIN, no COMMIT
        found, remembered = known.get(session, s.box, account_key)
        if found is None or found.account.platform != platform:
            return json_error(404, f"no {platform} account with this key")
        account, credentials = found.account, found.credentials
        adapter = get_adapter(platform)
        # Raises 413 past MAX_CONTENT_LENGTH even without Content-Length; cached (at most MAX_BODY_BYTES) so a
        # request rerun after a dropped database connection reads the same body (plugin/web/edge.py).
        body = request.get_data()
        now = services().clock()
        try:
            check_body(body)  # JSON, no NUL, finite numbers, bounded depth: once, for every adapter
            adapter.verify(credentials, request.headers, body, now)
        except PayloadError as exc:
            return json_error(400, str(exc))
        except SignatureError as exc:
            if remembered:  # perhaps signed with a secret rotated since this process read the account
                raise _ReadAgain from exc
            return json_error(401, str(exc))
        except (TypeError, ValueError, UnicodeError) as exc:  # a header no signature check could read
            log.info("unreadable %s signature: %r", platform, exc)
            return json_error(401, "the signature header is malformed")
        try:
            event = checked(adapter.parse(request.headers, body, credentials.options, now=now))
        except PayloadError as exc:
            return json_error(400, str(exc))
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
            # A field of a type the platform never sends (an object where it documents a string...): refused
            # here once rather than guarded in every adapter. Logged, because it may also be an adapter bug.
            log.info("%s payload of an unexpected shape: %r", platform, exc)
            return json_error(400, f"the payload has a value of an unexpected type ({type(exc).__name__}: {exc})"[:500])
        try:
            intake = take_in(session, account, event, body, now)
        except StaleAccount as exc:  # rolled back: nothing of this request is written
            raise _ReadAgain from exc
        survey = intake.survey
        answer = {
            "status": "duplicate" if intake.duplicate else "accepted",
            "event": intake.kind,
            "ticket_id": intake.ticket_id,
        }
        if survey is not None:
            answer["survey"] = {
                "status": survey.status,
                "reason": survey.reason,
                "scheduled_at": survey.scheduled_at.isoformat(),
            }
    if intake.held_pair is not None:
        _release(intake.held_pair, now)
    # Committed above. Nothing is enqueued here: the rows say what is due (a survey to send, a lookup to make) and
    # the sweep offers it within SWEEP_SECONDS, so a request costs no Redis round trips and Redis being away
    # cannot touch the answer (docs/decisions.md, "Webhooks leave their work to the sweep").
    # 202 when we took work on; 200 for a repeat or an event we have nothing to do with (a test ping).
    return jsonify(answer), 202 if not intake.duplicate and intake.kind != IGNORED else 200
