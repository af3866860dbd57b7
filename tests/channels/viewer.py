"""The emulators' viewer: a page on loopback that renders the exact payloads a messaging emulator received from
OpenCSAT (and what it sent back as the customer), as a conversation. docs/img/channels-*.png are screenshots of
it taken in headless Chromium by tests/channels/test_renderings.py.

A rendering of the payload, not of the vendor's app: each page says so, and shows the payload itself under the
drawing. What a template says comes from the template the emulator holds as approved (Meta keeps the text, the
message carries only its name, parameters and button payloads); everything else is read from the message.
"""

from __future__ import annotations

import json
import re
import threading
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"

_VARIABLE = re.compile(r"\{\{(\d+)\}\}")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f0f2f5; width: 400px; }
.label { background: #fff3cd; color: #664d03; font-size: 12px; padding: 6px 10px; line-height: 1.3; }
.bar { padding: 12px 14px; color: #fff; font-weight: 600; }
.thread { padding: 14px; display: flex; flex-direction: column; gap: 8px; }
.business, .customer { max-width: 84%; padding: 8px 11px; border-radius: 10px; font-size: 14px; line-height: 1.35;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.business { background: #fff; align-self: flex-start; }
.customer { background: #d9fdd3; align-self: flex-end; }
.buttons { display: flex; flex-direction: column; gap: 4px; margin-top: 8px; white-space: normal; }
.buttons span { background: #fff; border: 1px solid #e9edef; color: #027eb5; text-align: center; padding: 6px;
  border-radius: 6px; }
.buttons small, .meta { display: block; color: #667781; font-size: 10px; }
pre { margin: 0 14px 14px; padding: 8px; background: #fff; font-size: 10px; white-space: pre-wrap;
  overflow-wrap: anywhere; border-radius: 6px; max-height: 260px; overflow: hidden; }
"""


def _fill(text: str, values: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _buttons(pairs: list[tuple[str, str]]) -> str:
    """Buttons as (title, payload): the payload shown small under the title, shortened."""
    if not pairs:
        return ""
    cells = "".join(
        f"<span>{escape(title)}<small>{escape(payload[:28] + ('…' if len(payload) > 28 else ''))}</small></span>"
        for title, payload in pairs
    )
    return f"<div class=buttons>{cells}</div>"


def meta_bubble(body: dict, templates: dict) -> str:
    """One Cloud API message body as WhatsApp would draw it: template, interactive buttons or list, or text."""
    kind = body.get("type")
    if kind == "template":
        template = body["template"]
        key = (template["name"], template["language"]["code"])
        components = template.get("components") or []
        values = {
            str(i): p.get("text", "")
            for c in components
            if c["type"] == "body"
            for i, p in enumerate(c["parameters"], start=1)
        }
        payloads = [c["parameters"][0]["payload"] for c in components if c["type"] == "button"]
        held = templates.get(key) or {"body": f"[template {key[0]} ({key[1]})]", "buttons": []}
        titles = held["buttons"] or [f"button {i}" for i in range(len(payloads))]
        return escape(_fill(held["body"], values)) + _buttons(list(zip(titles, payloads, strict=False)))
    if kind == "interactive":
        interactive = body["interactive"]
        if interactive["type"] == "button":
            pairs = [(b["reply"]["title"], b["reply"]["id"]) for b in interactive["action"]["buttons"]]
        else:
            rows = [r for s in interactive["action"]["sections"] for r in s["rows"]]
            pairs = [(f"☰ {interactive['action']['button']}", "")] + [(r["title"], r["id"]) for r in rows]
        return escape(interactive["body"]["text"]) + _buttons(pairs)
    return escape(body.get("text", {}).get("body", ""))


def twilio_bubble(message: dict) -> str:
    """A Twilio message as sent: its Body, or the Content template filled with the ContentVariables it received."""
    rendered = message.get("rendered") or {"body": message.get("body", ""), "buttons": []}
    return escape(rendered["body"]) + _buttons([(b["title"], b["id"]) for b in rendered["buttons"]])


def chatwoot_bubble(message: dict) -> str:
    """A Chatwoot message as posted: its content, and for input_select its items' titles (value under each)."""
    items = (message.get("content_attributes") or {}).get("items") or []
    return escape(message.get("content") or "") + _buttons([(i["title"], str(i["value"])) for i in items])


def page(title: str, colour: str, label: str, thread: list[tuple[str, str]], payload: object) -> str:
    bubbles = "".join(f"<div class={side}>{html}</div>" for side, html in thread)
    raw = json.dumps(payload, ensure_ascii=False, indent=1)
    return (
        f"<!doctype html><meta charset=utf-8><title>{escape(title)}</title><style>{STYLE}</style>"
        f"<div class=label>{escape(label)}</div><div class=bar style='background:{colour}'>{escape(title)}</div>"
        f"<div class=thread>{bubbles}</div><span class=meta style='margin:0 14px'>the first payload, as received:"
        f"</span><pre>{escape(raw)}</pre>"
    )


class Viewer:
    """Serves pages (name -> HTML) on 127.0.0.1 while a test screenshots them."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        viewer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                html = viewer.pages.get(self.path.strip("/"))
                data = (html or "not found").encode()
                self.send_response(200 if html else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Self:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def screenshot(browser, name: str, html: str) -> str:
    """Serve `html` from the viewer, open it in Chromium, save docs/img/<name>; the page's visible text."""
    with Viewer() as viewer:
        viewer.pages[name] = html
        tab = browser.new_page(viewport={"width": 400, "height": 600})
        try:
            tab.goto(f"{viewer.url}/{name}")
            tab.screenshot(path=str(DOCS_IMG / name), full_page=True)
            return tab.inner_text("body")
        finally:
            tab.close()
