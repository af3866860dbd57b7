"""The install guides in docs/platforms/: what an admin copies must run, and each guide covers the steps an admin
cannot skip (the helpdesk's own survey off, the sidebar, a final check). Also the CLI the guides rely on."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from plugin.cli import accounts_cli
from plugin.services import services

GUIDES = Path(__file__).parents[2] / "docs" / "platforms"
HELPDESKS = ("zendesk", "freshdesk", "helpscout", "zammad", "liveagent", "chatwoot")
OWN_SURVEY = {"zendesk", "freshdesk", "helpscout", "chatwoot"}  # helpdesks with a CSAT survey of their own
SHELL = re.compile(r"```(?:sh|bash|console)\n(.*?)```", re.DOTALL)


def _guide(name: str) -> str:
    return (GUIDES / f"{name}.md").read_text()


def _commands(text: str) -> list[list[str]]:
    """Every command line in the guide's shell blocks, continuation lines joined, as shell words."""
    commands = []
    for block in SHELL.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            if line and not line.startswith("#"):
                commands.append(shlex.split(line, comments=True))
    return commands


@pytest.mark.parametrize("name", [*HELPDESKS, "generic"])
def test_every_flask_command_is_the_venvs_and_every_option_exists(name):
    words = [w for command in _commands(_guide(name)) for w in command]
    assert "flask" not in words, f"{name}.md calls bare flask; use .venv/bin/flask"
    for command in _commands(_guide(name)):
        if command[:4] != [".venv/bin/flask", "--app", "plugin", "accounts"]:
            continue
        sub = accounts_cli.commands[command[4]]
        known = {opt for param in sub.params for opt in param.opts}
        given = {w.split("=")[0] for w in command[5:] if w.startswith("--")}
        assert given <= known, f"{name}.md: {command[4]} has no {given - known}"


@pytest.mark.parametrize("name", HELPDESKS)
def test_each_guide_links_the_sidebar_and_ends_with_a_check_that_shows_its_output(name):
    text = _guide(name)
    assert "](../sidebar.md" in text
    check = text[text.lower().index("## check that it works") :]
    assert "HTTP/1.1 202" in check or "HTTP/1.1 200" in check, "the check shows the answer the admin should see"


@pytest.mark.parametrize("name", sorted(OWN_SURVEY))
def test_the_guide_switches_off_the_helpdesks_own_survey(name):
    text = _guide(name).lower()
    heading = re.search(r"^##[^\n]*switch off[^\n]*$", text, re.MULTILINE)
    assert heading, f"{name}.md has no section that switches off the helpdesk's own survey"
    section = text[heading.end() :].split("\n## ")[0]
    assert "survey" in heading.group(0) + section or "rating" in heading.group(0) + section


def test_accounts_create_can_generate_and_print_the_webhook_secret(app, runner, client):
    args = ["accounts", "create", "--platform", "liveagent", "--name", "Acme", "--generate-webhook-secret"]
    created = json.loads(runner.invoke(args=args).output)
    secret = created["webhook_secret"]
    assert len(secret) == 64
    body = {"ticket_id": "t1", "status": "X", "date_changed": "2026-11-23 10:00:00"}
    path = created["webhook_url"].removeprefix(services().settings.public_url)
    answer = client.post(path, json=body, headers={"X-OpenCSAT-Secret": secret})
    assert (answer.status_code, answer.get_json()["event"]) == (200, "ignored")
    both = runner.invoke(args=[*args, "--webhook-secret", "x"])
    assert both.exit_code != 0 and "not both" in both.output


def test_accounts_update_sets_the_secret_shown_after_saving_without_changing_the_url(app, runner):
    args = ["accounts", "create", "--platform", "chatwoot", "--name", "Acme", "--option", "account_id=1"]
    created = json.loads(runner.invoke(args=args).output)
    result = runner.invoke(
        args=["accounts", "update", "--account", created["account_key"], "--webhook-secret", "shown-by-chatwoot"]
    )
    assert result.exit_code == 0, result.output
    updated = json.loads(result.output)
    assert updated["webhook_url"] == created["webhook_url"]
    assert "shown-by-chatwoot" not in result.output
