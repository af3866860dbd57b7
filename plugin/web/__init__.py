"""Web blueprints: thin routes that parse, call domain code, and answer."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from plugin import i18n, templating
    from plugin.admin import views as admin
    from plugin.web import (
        api,
        errors,
        health,
        landing,
        limits,
        ratings,
        review,
        sidebar,
        signature,
        unsubscribe,
        webhooks,
        webhooks_api,
    )

    i18n.init_app(app)  # pages in the survey's (or the browser's) language
    templating.init_app(app)  # emails honour TEMPLATES_OVERRIDE_PATH
    for module in (
        webhooks,
        ratings,
        unsubscribe,
        signature,
        api,
        review,
        webhooks_api,
        health,
        landing,
        sidebar,
        admin,
    ):
        app.register_blueprint(module.bp)
    limits.init_app(app, limited=[ratings.bp, unsubscribe.bp, signature.bp])
    errors.init_app(app)
