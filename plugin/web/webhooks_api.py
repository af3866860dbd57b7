"""/api/v1/webhooks and /api/v1/webhook-deliveries: the account's outbound webhooks and their delivery log."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from plugin import outbound
from plugin.services import services
from plugin.web.api import BadQuery, api_key_required
from plugin.web.errors import json_error

bp = Blueprint("webhooks_api", __name__, url_prefix="/api/v1")


@bp.errorhandler(BadQuery)
def bad_query(exc: BadQuery):
    return json_error(400, str(exc))


def _new_webhook() -> tuple[str, str | None]:
    """The url and optional secret of the POSTed JSON object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadQuery('the body must be a JSON object like {"url": "https://example.com/csat"}')
    url, secret = body.get("url"), body.get("secret")
    if not isinstance(url, str) or not url.strip():
        raise BadQuery("url is required: the https:// address that receives each rating change")
    if secret is not None and (not isinstance(secret, str) or not secret.strip()):
        raise BadQuery("secret must be a non-empty string (leave it out to have one generated)")
    return url, secret


@bp.get("/webhooks")
@api_key_required
def list_webhooks():
    with services().db.session() as session:
        return jsonify({"webhooks": outbound.webhooks(session, g.account.id)})


@bp.post("/webhooks")
@api_key_required
def add_webhook():
    if not request.is_json:
        return json_error(415, "send the webhook as JSON with 'Content-Type: application/json'")
    url, secret = _new_webhook()
    s = services()
    try:
        with s.db.session() as session:
            hook, secret_used = outbound.add_webhook(session, s.box, g.account, url, secret)
            # The caller already knows a secret it chose; a generated one is shown here once and never again.
            shown = outbound.describe_new(hook, None if secret else secret_used)
    except ValueError as exc:
        raise BadQuery(str(exc)) from None
    return jsonify(shown), 201


@bp.delete("/webhooks/<int:webhook_id>")
@api_key_required
def remove_webhook(webhook_id: int):
    with services().db.session() as session:
        removed = outbound.remove_webhook(session, g.account.id, webhook_id)
    if not removed:
        return json_error(404, "no webhook with this id")
    return "", 204


@bp.get("/webhooks/<int:webhook_id>/deliveries")
@api_key_required
def list_deliveries(webhook_id: int):
    with services().db.session() as session:
        if outbound.webhook(session, g.account.id, webhook_id) is None:
            return json_error(404, "no webhook with this id")
        return jsonify({"deliveries": outbound.deliveries(session, g.account.id, webhook_id)})


@bp.post("/webhook-deliveries/<int:delivery_id>/replay")
@api_key_required
def replay_delivery(delivery_id: int):
    s = services()
    with s.db.session() as session:
        delivery = outbound.replay(session, delivery_id, g.account.id, s.clock())
    if delivery is None:
        return json_error(404, "no failed delivery with this id on an active webhook")
    s.jobs.enqueue("deliver_webhook", delivery_id)  # after the commit, so the job finds the row pending
    return jsonify({"id": delivery_id, "status": "pending"}), 202
