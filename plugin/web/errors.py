"""Errors say what was wrong: JSON for machines (webhooks, API), a readable page for people."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from plugin.db import is_disconnect
from plugin.web.edge import request_id

log = logging.getLogger(__name__)

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

    @app.errorhandler(DataError)
    @app.errorhandler(OverflowError)
    def value_out_of_range(exc: Exception):
        # The database (PostgreSQL's DataError, SQLite's OverflowError) refused a value a request carried, e.g. an
        # id beyond a 32-bit column: the request was wrong, nothing was written (the transaction rolled back).
        log.info("value out of range on %s %s (request id %s): %s", request.method, request.path, request_id(), exc)
        message = "a value in the request is out of range"
        if request.path.startswith(MACHINE_PREFIXES):
            return json_error(400, message, request_id=request_id())
        return page(400, "Bad Request", message)

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        if not is_disconnect(exc) and not isinstance(exc, OperationalError):
            return unexpected(exc)
        # The database stayed away past the retries (plugin/db.py): say so, and when to come back.
        log.error("database unavailable on %s %s (request id %s): %s", request.method, request.path, request_id(), exc)
        message = "the database is unavailable for a moment; please retry"
        if request.path.startswith(MACHINE_PREFIXES):
            response = json_error(503, message, request_id=request_id())
        else:
            response = make_response(page(503, "Service Unavailable", message))
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # The last resort, not the fix: every 500 this answers is a bug to fix where it happened.
        log.exception("unexpected error on %s %s (request id %s)", request.method, request.path, request_id())
        message = f"something went wrong on our side; quote request id {request_id()} when you report it"
        if request.path.startswith(MACHINE_PREFIXES):
            return json_error(500, message, request_id=request_id())
        return page(500, "Internal Server Error", message)
