"""GET /: a small page for whoever opens the bare address: what this service is, and where to go next."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("landing", __name__)


@bp.get("/")
def landing():
    return render_template("landing.html")
