"""Errors say what was wrong: JSON for machines (webhooks, API), a readable page for people."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

MACHINE_PREFIXES = ("/webhooks/", "/api/")


def json_error(status: int, message: str, **extra: object):
    """A JSON error answer: {"error": <reason phrase>, "message": <what was wrong>}."""
    from http import HTTPStatus

    response = jsonify({"error": HTTPStatus(status).phrase.lower(), "message": message, **extra})
    response.status_code = status
    return response


def page(status: int, title: str, message: str):
    return render_template("pages/message.html", title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith(MACHINE_PREFIXES):
            return json_error(exc.code or 500, exc.description or exc.name)
        return page(exc.code or 500, exc.name, exc.description or "")
