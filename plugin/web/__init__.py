"""Web blueprints: thin routes that parse, call domain code, and answer."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from plugin.web import api, errors, health, ratings, unsubscribe, webhooks

    for module in (webhooks, ratings, unsubscribe, api, health):
        app.register_blueprint(module.bp)
    errors.init_app(app)
