"""/inbound/<provider>/<account_key>: replies and delivery reports from messaging providers, verified with each
provider's own signature; and /c/<token>, the short rating link an SMS carries as a fallback.

404 unknown account or provider not set up; 401 bad signature; 400 malformed; 200 otherwise (duplicates too).
The rows are written before the answer; sending the follow-up and the write-back are jobs.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, render_template_string, request

from plugin import accounts, i18n
from plugin.channels import configs, delivery, replies
from plugin.channels.base import InboundRequest, PayloadError, SignatureError
from plugin.models import Survey
from plugin.services import services
from plugin.surveys.scales import scale_for
from plugin.web.errors import json_error

bp = Blueprint("inbound", __name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@bp.route("/inbound/<provider>/<account_key>", methods=["GET", "POST"])
def receive(provider: str, account_key: str):
    s = services()
    if provider not in configs.PROVIDERS:
        return json_error(404, f"unknown provider {provider!r}; one of {', '.join(configs.PROVIDERS)}")
    if not account_key.isprintable():  # %00 and the like: no account has such a key (and PostgreSQL refuses NUL)
        return json_error(404, "no account with this key")
    if request.content_length is not None and request.content_length > s.settings.max_body_bytes:
        return json_error(413, f"body is larger than {s.settings.max_body_bytes} bytes")
    with s.db.session() as session:
        account = accounts.by_key(session, account_key)
        config = configs.load(session, s.box, account, provider, s.settings.public_url) if account else None
        if config is None:
            return json_error(404, f"no account with this key has a {provider} channel")
        module = configs.provider_module(provider)
        if request.method == "GET" and provider == "whatsapp":
            challenge = module.handshake(config, request.args)
            if challenge is None:
                return json_error(403, "hub.mode or hub.verify_token does not match this channel")
            return Response(challenge, mimetype="text/plain")
        if request.method == "GET" and provider != "vonage":  # Vonage may be set to call by GET
            return json_error(405, "this provider's webhooks are POSTs")
        form = request.form.to_dict(flat=False)  # every value of repeated keys: Twilio signs them all
        query = request.args.to_dict(flat=False)
        url = config.inbound_url + (f"?{request.query_string.decode()}" if request.query_string else "")
        inbound = InboundRequest(request.method, url, request.headers, request.get_data(), form, query)
        try:
            module.verify(config, inbound)
            items = module.parse(config, inbound)
        except SignatureError as exc:
            return json_error(401, str(exc))
        except PayloadError as exc:
            return json_error(400, str(exc))
        outcome = replies.take_in(session, account, provider, module.channel, items, s.tokens, s.clock())
    replies.enqueue(s.jobs, outcome)
    if provider in ("twilio", "twilio-whatsapp"):  # Twilio expects TwiML; an empty Response sends nothing back
        return Response(EMPTY_TWIML, mimetype="text/xml")
    return jsonify({"status": "ok", "items": len(items), "duplicates": outcome.duplicates})


PAGE = """<!doctype html><html lang="{{ lang }}" dir="{{ direction }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex">
<title>{{ question }}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 2rem auto">
<h1 style="font-size: 1.3rem">{{ question }}</h1><ul style="list-style: none; padding: 0">
{% for label, url in choices %}<li style="margin: .5rem 0"><a href="{{ url }}">{{ label }}</a></li>{% endfor %}
</ul></body></html>"""


@bp.get("/c/<token>")
def choose_page(token: str):
    """The SMS's fallback link: the scale as plain links to the usual (scanner-aware) rating pages."""
    s = services()
    survey_id = delivery.read_short_link(s.settings.secret_key, token)
    with s.db.session() as session:
        survey = session.get(Survey, survey_id) if survey_id else None
        if survey is None:
            abort(404)
        locale = i18n.normalise(survey.locale, survey.account.locale)
        scale = scale_for(survey.scale, survey.account.options)
        choices = [
            (
                f"{p.score} {i18n.gettext(locale, p.label)}",
                f"{s.settings.public_url}/r/{s.tokens.rating(survey.id, p.score)}",
            )
            for p in scale.points
        ]
        return render_template_string(
            PAGE,
            lang=i18n.html_lang(locale),
            direction=i18n.direction(locale),
            question=i18n.gettext(locale, scale.question),
            choices=choices,
        )
