"""GET /api/v1/flagged and POST /api/v1/clicks/<id>/restore: the admin's review of marked clicks."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from plugin.services import services
from plugin.surveys import counting, review
from plugin.web.api import api_key_required
from plugin.web.errors import json_error

bp = Blueprint("review", __name__, url_prefix="/api/v1")


@bp.get("/flagged")
@api_key_required
def list_flagged():
    with services().db.session() as session:
        return jsonify({"flagged": review.flagged(session, g.account.id)})


@bp.post("/clicks/<int:click_id>/restore")
@api_key_required
def restore_click(click_id: int):
    s = services()
    try:
        with s.db.session() as session:
            write_back = counting.restore(session, g.account.id, click_id, s.clock())
            if write_back is None:
                return json_error(404, "no click with this id on this account's surveys")
            answer = {"rating_id": write_back.rating_id, "score": write_back.rating.score, "status": "counted"}
    except counting.RatingConfirmed:
        return json_error(409, "the customer confirmed this rating on the page; only they can change it")
    s.jobs.enqueue("deliver_write_back", write_back.id)
    return jsonify(answer), 200
