"""Web blueprints: thin routes that parse, call domain code, and answer."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from plugin import i18n, templating
    from plugin.admin import views as admin
    from plugin.sidebar import routes as sidebar
    from plugin.web import (
        api,
        edge,
        errors,
        headers,
        health,
        inbound,
        landing,
        limits,
        pages,
        ratings,
        review,
        signature,
        unsubscribe,
        webhooks,
        webhooks_api,
    )

    edge.init_app(app)  # first: NUL refused and ids bounded for every route (docs/reliability.md)
    i18n.init_app(app)  # pages in the survey's (or the browser's) language
    pages.init_app(app)  # the account's brand on every customer page
    templating.init_app(app)  # emails honour TEMPLATES_OVERRIDE_PATH
    blueprints = (
        webhooks, inbound, ratings, unsubscribe, signature, api, review, webhooks_api, health, landing, sidebar, admin,
    )  # fmt: skip
    for module in blueprints:
        app.register_blueprint(module.bp)
    app.register_blueprint(signature.api_bp)
    app.register_blueprint(sidebar.api_bp)
    app.register_blueprint(sidebar.helpscout_bp)
    limits.init_app(app, limited=[ratings.bp, unsubscribe.bp, signature.bp, sidebar.bp])
    errors.init_app(app)
    headers.init_app(app)  # CSP, nosniff, referrer policy, framing, HSTS on every response
