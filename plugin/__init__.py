"""OpenCSAT: customer-satisfaction surveys for helpdesks. `create_app` is the only entry point."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from plugin import cli, keys, services, web
from plugin.keys import KeyRing
from plugin.settings import load
from plugin.templating import TEMPLATES_DIR


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """The Flask app. `config` overrides environment variables (tests); INSTANCE_PATH moves instance/."""
    config = dict(config or {})
    instance_path = config.pop("INSTANCE_PATH", None)
    app = Flask(
        __name__, template_folder=str(TEMPLATES_DIR), instance_path=str(instance_path) if instance_path else None
    )
    app.config["START_JOBS_THREAD"] = config.pop("START_JOBS_THREAD", True)
    settings = load(config, Path(app.instance_path))
    # The session cookie has a key of its own (plugin.keys); cookies of an earlier SECRET_KEY still read.
    session_keys = KeyRing(settings.secret_key, settings.secret_key_fallbacks).signing_keys(keys.SESSION)
    app.config.update(
        SECRET_KEY=session_keys[-1], SECRET_KEY_FALLBACKS=session_keys[:-1], MAX_CONTENT_LENGTH=settings.max_body_bytes
    )
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_null_translations(newstyle=True)
    services.init_app(app, settings)
    web.init_app(app)
    cli.init_app(app)
    return app
