"""Draw the labelled HTML mocks in docs/img/channels-*.png: what a customer sees on SMS, WhatsApp and Chatwoot.

The texts and buttons come from the real composing code (plugin/channels/); the phone and widget around them are a
mock, labelled as such on the image. Run: `.venv/bin/python -m tests.channels.mock_screens` (needs Chromium).
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from types import SimpleNamespace

from plugin.channels import chat, sms, whatsapp
from plugin.channels.base import ProviderConfig
from plugin.surveys.scales import SCALES
from plugin.tokens import Tokens
from tests.support.browser import CHROMIUM, LAUNCH_ARGS

OUT = Path(__file__).resolve().parents[2] / "docs" / "img"
SURVEY = SimpleNamespace(id=42, requester_phone="+48500100200", ticket_id="4711")
STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; background: #f0f2f5; width: 380px; }
.label { background: #fff3cd; color: #664d03; font-size: 12px; padding: 6px 10px; text-align: center; }
.bar { padding: 12px 14px; color: #fff; font-weight: 600; }
.thread { padding: 14px; display: flex; flex-direction: column; gap: 8px; min-height: 330px; }
.in, .out { max-width: 82%; padding: 8px 11px; border-radius: 10px; font-size: 14px; line-height: 1.35; }
.in { background: #fff; align-self: flex-start; }
.out { background: #d9fdd3; align-self: flex-end; }
.buttons { display: flex; flex-direction: column; gap: 4px; margin-top: 6px; }
.buttons span { background: #fff; border-top: 1px solid #e9edef; color: #027eb5; text-align: center; padding: 7px;
  font-size: 14px; border-radius: 6px; }
.select span { display: block; border: 1px solid #1f93ff; color: #1f93ff; border-radius: 6px; padding: 6px 10px;
  margin-top: 5px; font-size: 14px; }
"""


def page(title: str, colour: str, bubbles: str, label: str) -> str:
    return (
        f"<!doctype html><meta charset=utf-8><style>{STYLE}</style><div class=label>{escape(label)}</div>"
        f"<div class=bar style='background:{colour}'>{escape(title)}</div><div class=thread>{bubbles}</div>"
    )


def screens() -> dict[str, str]:
    scale = SCALES["csat5"]
    text = sms.question_text(scale, "en", "Acme Support", None, None)
    sms_page = page(
        "Acme Support (SMS)",
        "#5b6770",
        f"<div class=in>{escape(text)}</div><div class=out>4</div>"
        f"<div class=in>{escape(sms.follow_up_text('en'))}</div><div class=out>Quick and friendly</div>",
        "MOCK: an HTML drawing of the SMS thread, texts as OpenCSAT sends them",
    )
    config = ProviderConfig(1, "k", "whatsapp", None, "1", {"template": "ticket_rating"}, {})
    template = whatsapp.compose(SURVEY, scale, "en", None, config, Tokens("mock"), window_open=False)
    buttons = "".join(f"<span>{escape(c.title)}</span>" for c in template.choices)
    wa_page = page(
        "Acme Support (WhatsApp)",
        "#008069",
        f"<div class=in>How would you rate the support you received? (#4711)<div class=buttons>{buttons}</div></div>"
        f"<div class=out>4 Satisfied</div><div class=in>{escape(sms.follow_up_text('en'))}</div>",
        "MOCK: an HTML drawing of the approved template (docs/channels.md) with its quick-reply buttons",
    )
    question = chat.compose(SURVEY, scale, "en", None)
    options = "".join(f"<span>{escape(c.title)}</span>" for c in question.choices)
    chat_page = page(
        "Chatwoot web widget",
        "#1f93ff",
        f"<div class=in>{escape(question.text)}<div class=select>{options}</div></div>",
        "MOCK: an HTML drawing of Chatwoot's input_select message in the widget",
    )
    return {
        "channels-sms-mock.png": sms_page,
        "channels-whatsapp-mock.png": wa_page,
        "channels-chat-mock.png": chat_page,
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        for name, html in screens().items():
            tab = browser.new_page(viewport={"width": 380, "height": 480})
            tab.set_content(html)
            tab.screenshot(path=str(OUT / name), full_page=True)
            tab.close()
        browser.close()


if __name__ == "__main__":
    main()
