"""Web blueprints: thin routes that parse, call domain code, and answer."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from plugin.web import api, errors, health, limits, ratings, review, sidebar, unsubscribe, webhooks

    for module in (webhooks, ratings, unsubscribe, api, review, health, sidebar):
        app.register_blueprint(module.bp)
    from plugin.admin import views as admin_views

    app.register_blueprint(admin_views.bp)
    limits.init_app(app, limited=[ratings.bp, unsubscribe.bp])
    errors.init_app(app)
