"""`flask --app plugin demo`: one ticket through the whole loop, locally, over the real HTTP routes."""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import click
from flask import current_app

from plugin import accounts, signing
from plugin.channels.email import survey_links
from plugin.jobs import LocalQueue, RQQueue
from plugin.jobs.sweep import sweep
from plugin.models import Survey
from plugin.services import services


class _CallbackReceiver(BaseHTTPRequestHandler):
    """Stands in for the helpdesk: keeps every write-back callback it is sent."""

    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append({"signature": self.headers.get(signing.HEADER), "body": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _run_jobs() -> None:
    """One sweep (it offers what the rows say is due), then the queued jobs, as a worker would."""
    s = services()
    jobs = s.jobs
    with s.db.session() as session:
        sweep(session, jobs, s.clock())
    if isinstance(jobs, LocalQueue):
        jobs.drain()
    elif isinstance(jobs, RQQueue):
        from rq import SimpleWorker

        SimpleWorker([jobs.queue], connection=jobs.redis).work(burst=True)


@click.command("demo")
@click.option("--email", default="customer@example.com", show_default=True, help="The demo customer's address.")
@click.option("--click/--no-click", "do_click", default=True, help="Also play the customer's click and confirmation.")
def demo_command(email: str, do_click: bool) -> None:
    """Play a ticket-solved event through the whole flow and print the rating links."""
    from plugin.cli import upgrade_database

    s = services()
    upgrade_database(s.settings.database_url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CallbackReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    callback_url = f"http://127.0.0.1:{server.server_port}/opencsat-callback"
    # The demo's helpdesk is this process's own loopback server: the outbound policy may call exactly that address,
    # for this run only (a deployment allows internal helpdesks with OUTBOUND_ALLOWED_NETWORKS).
    own = ipaddress.ip_network("127.0.0.1/32")
    s.settings = replace(s.settings, outbound_allowed_networks=(*s.settings.outbound_allowed_networks, own))
    secret = secrets.token_urlsafe(24)
    with s.db.session() as session:
        created = accounts.create_account(
            session,
            s.box,
            platform="generic",
            name="Demo Helpdesk",
            webhook_secret=secret,
            api_url=callback_url,
            delay_minutes=0,
            throttle_days=0,
        )
        account_key = created.account.key
    click.echo(f"1. account {account_key} created (generic platform, write-back to {callback_url})")

    ticket_id = f"DEMO-{secrets.randbelow(10**6)}"
    body = json.dumps(
        {
            "event_id": f"demo-{secrets.token_hex(6)}",
            "event": "ticket.solved",
            "occurred_at": None,
            "ticket": {
                "id": ticket_id,
                "subject": "Printer on floor 3 is jammed",
                "url": f"https://helpdesk.example/t/{ticket_id}",
            },
            "requester": {"email": email, "name": "Casey Customer", "locale": "en"},
            "assignee": {"id": "42", "email": "agent@example.com", "name": "Alex Agent"},
        }
    ).encode()
    client = current_app.test_client()
    response = client.post(
        f"/webhooks/generic/{account_key}",
        data=body,
        headers={"Content-Type": "application/json", signing.HEADER: signing.sign(secret, body)},
    )
    click.echo(f"2. POST /webhooks/generic/{account_key} -> {response.status_code} {response.get_json()}")
    _run_jobs()

    with s.db.session() as session:
        survey = session.query(Survey).filter_by(ticket_id=ticket_id).one()
        status, message_id = survey.status, survey.message_id
        links = survey_links(survey, s.tokens, s.settings.public_url)
    where = (
        "via SMTP"
        if s.settings.smtp_url
        else f"to {s.settings.outbox_path}/{re.sub(r'[^A-Za-z0-9._-]', '_', (message_id or '').strip('<>'))}.eml"
    )
    click.echo(f"3. survey email {status} {where}")
    click.echo("   rating links (open one in a browser while the server runs):")
    for point, url in links.ratings:
        click.echo(f"   {point.score} {point.label:<18} {url}")
    if not do_click:
        return

    best = links.ratings[-1][1]
    path = best[len(s.settings.public_url) :]
    page = client.get(path, headers={"User-Agent": "Mozilla/5.0 (demo customer)"})
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    click.echo(f"4. customer clicks {links.ratings[-1][0].label!r}: GET -> {page.status_code} (thank-you page)")
    confirmed = client.post(
        path, data={"nonce": nonce, "score": links.ratings[-1][0].score, "comment": "Quick and friendly, thanks!"}
    )
    click.echo(f"5. customer confirms with a comment: POST -> {confirmed.status_code}")
    _run_jobs()
    server.shutdown()
    if _CallbackReceiver.received:
        rating = _CallbackReceiver.received[-1]["body"]["rating"]
        click.echo(
            f"6. helpdesk received the write-back: ticket {rating['ticket_id']} scored "
            f"{rating['score']}/{rating['max_score']} ({rating['score_label']}), "
            f"agent CSAT {rating['agent_csat_30d']}% over {rating['agent_responses_30d']} response(s)"
        )
    else:
        click.echo("6. no write-back arrived; see 'flask --app plugin write-backs list --account " + account_key + "'")
