"""Web blueprints: thin routes that parse, call domain code, and answer."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from plugin.web import api, errors, health, limits, ratings, review, unsubscribe, webhooks

    for module in (webhooks, ratings, unsubscribe, api, review, health):
        app.register_blueprint(module.bp)
    limits.init_app(app, limited=[ratings.bp, unsubscribe.bp])
    errors.init_app(app)
