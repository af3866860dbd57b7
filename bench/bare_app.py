"""The baseline for bench/http_throughput.py: bare Flask with OpenCSAT's two hot route shapes, no database.

POST /webhooks/generic/<key> reads the JSON body and answers 202 with a small JSON object;
GET /r/<token> renders a small HTML thank-you page (a Jinja template with a form and five choices).
It is served by the same gunicorn command as OpenCSAT, so the ratio between the two is what
OpenCSAT itself adds: signature check, parsing, database rows, Redis enqueue, token check.

With BARE_DATABASE_URL set it is the "floor" baseline instead: each request also INSERTs one row and commits it
(plain psycopg, one connection per thread), the least any service that keeps what it is told must do before it
answers.

    gunicorn -w 2 -k gthread --threads 4 -b 127.0.0.1:8000 --pythonpath bench bare_app:app
"""

from __future__ import annotations

import os
import threading

from flask import Flask, jsonify, render_template, request
from jinja2 import DictLoader

PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Thank you</title></head>
<body><main>
<h1>Thank you! We got your rating.</h1>
<form method="post" action="{{ url_for('click', token=token) }}">
  <fieldset>
    <legend>How would you rate the support you received?</legend>
    {% for score in scores %}
    <label><input type="radio" name="score" value="{{ score }}" {% if score == selected %}checked{% endif %}>
      <span>{{ score }}</span></label>
    {% endfor %}
  </fieldset>
  <label for="comment">What could we improve? (optional)</label>
  <textarea id="comment" name="comment" maxlength="2000"></textarea>
  <button type="submit">Confirm my rating</button>
</form>
</main></body>
</html>
"""

app = Flask(__name__)
app.jinja_loader = DictLoader({"rating.html": PAGE})  # compiled once and cached, as a file template would be

DATABASE_URL = os.environ.get("BARE_DATABASE_URL")
_connections = threading.local()


def store(kind: str, payload: str) -> None:
    """The floor baseline's one durable row per request (nothing when BARE_DATABASE_URL is unset)."""
    if not DATABASE_URL:
        return
    import psycopg

    if getattr(_connections, "conn", None) is None:
        _connections.conn = psycopg.connect(DATABASE_URL)
    with _connections.conn.transaction():
        _connections.conn.execute("INSERT INTO bench_floor (kind, payload) VALUES (%s, %s)", (kind, payload))


@app.post("/webhooks/generic/<account_key>")
def receive(account_key: str):
    if not request.is_json:
        return jsonify(error="Content-Type must be application/json"), 415
    body = request.get_data(cache=False)
    store("webhook", body.decode())
    return jsonify(status="accepted", account=account_key, bytes=len(body)), 202


@app.route("/r/<token>", methods=["GET", "POST"])
def click(token: str):
    if token != "ping":  # the benchmark's readiness probe is not a click
        store("click", token)
    return render_template("rating.html", token=token, scores=range(1, 6), selected=len(token) % 5 + 1)
