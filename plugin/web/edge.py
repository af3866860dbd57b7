"""Checks every request passes before any route sees it, so no route has to repeat them (docs/reliability.md).

- A NUL character anywhere in the path, the query string or a form field is a 400: PostgreSQL cannot store it
  and no helpdesk, browser or API client has a reason to send one.
- `<int:...>` in a route takes only what a 32-bit id column holds (0 to 2^31-1); anything larger is a 400
  naming the parameter, not a database error.
- A request whose database connection was dropped under it (a restart, a failover, pg_terminate_backend) is
  run again, transparently (plugin/db.py retry_on_disconnect): the dropped transaction rolled back, and the
  retry gets a live connection. Routes do their outside effects (enqueueing) only after their commit, so a
  rerun repeats none.
- Each request carries an id (the caller's X-Request-Id when it is sane, else a fresh one) for the log and the
  answer, so an error a person reports can be found.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, g, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

from plugin.db import retry_on_disconnect

MAX_ID = 2**31 - 1
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class BoundedInt(IntegerConverter):
    """Flask's int converter, bounded to a 32-bit column."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            raise BadRequest(f"{value[:30]} is not a valid id (at most {MAX_ID})")
        return number


def request_id() -> str:
    """This request's id (see the module docstring)."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return g.request_id


def _refuse_nul() -> None:
    if "\x00" in request.path:
        raise BadRequest("the URL path contains a NUL character")
    for name, value in request.args.items(multi=True):
        if "\x00" in name or "\x00" in value:
            raise BadRequest(f"the query parameter {name.replace(chr(0), '')[:50]!r} contains a NUL character")
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            if "\x00" in name or "\x00" in value:
                raise BadRequest(f"the form field {name.replace(chr(0), '')[:50]!r} contains a NUL character")


def init_app(app: Flask) -> None:
    """Before any blueprint is registered: the converter applies to the routes added after it."""
    app.url_map.converters["int"] = BoundedInt
    app.before_request(_refuse_nul)
    dispatch = app.dispatch_request

    def dispatch_retrying_a_dropped_connection():
        return retry_on_disconnect(dispatch, f"{request.method} {request.path}")

    app.dispatch_request = dispatch_retrying_a_dropped_connection

    @app.after_request
    def tag(response):
        response.headers["X-Request-Id"] = request_id()
        return response
