"""The Jinja2 environments for emails (one per language), shared by jobs (no Flask) and the demo.

Admins override an email without touching the package: a file under the override folder (TEMPLATES_OVERRIDE_PATH,
default instance/templates) wins over the package's. `<folder>/<account_key>/email/survey.html` is for one account,
`<folder>/email/survey.html` for all; an override may `{% extends "package/email/survey.html" %}` and replace blocks.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, Template, select_autoescape

from plugin import i18n

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"

_override_path: Path | None = None


def init_app(app) -> None:
    """Use the app's TEMPLATES_OVERRIDE_PATH for every email rendered in this process."""
    global _override_path
    _override_path = app.extensions["opencsat"].settings.templates_override_path


def override_path() -> Path | None:
    return _override_path


def environment(locale: str = i18n.DEFAULT_LOCALE, overrides: Path | None = None) -> Environment:
    """Templates speaking `locale` (its gettext catalogue installed), HTML autoescaped, overrides first."""
    return _environment(locale if locale in i18n.LOCALES else i18n.DEFAULT_LOCALE, overrides or _override_path)


def email_template(env: Environment, name: str, account_key: str | None) -> Template:
    """The account's override of `email/<name>`, else the all-accounts override, else the package's."""
    names = [f"email/{name}"]
    if account_key:
        names.insert(0, f"{account_key}/email/{name}")
    return env.select_template(names)


@lru_cache(maxsize=64)
def _environment(locale: str, overrides: Path | None) -> Environment:
    package = FileSystemLoader(TEMPLATES_DIR)
    loaders = [FileSystemLoader(overrides)] if overrides else []
    env = Environment(
        loader=ChoiceLoader([*loaders, package, PrefixLoader({"package": package})]),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    translations = i18n.translations(locale)
    env.install_gettext_translations(translations, newstyle=True)
    # `translate` is for text known only at run time (scale labels): plain text, escaped like any value.
    env.globals.update(
        translate=lambda message: str(translations.gettext(str(message))),
        locale=locale,
        lang=i18n.html_lang(locale),
        direction=i18n.direction(locale),
    )
    return env
