"""Signals that a click came from a mail security scanner rather than a person.

Each rule is a named function returning its reason or None; a click with any reason is marked and
waits for a person's confirmation instead of settling by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ClickContext:
    """What the rules may look at: this click and the survey's earlier clicks."""

    score: int
    at: datetime
    user_agent: str
    earlier: Sequence[tuple[int, datetime]]  # (score, at) of earlier clicks on this survey
    window: timedelta  # the account's settle window


def several_scores(ctx: ClickContext) -> str | None:
    """Different scores clicked for one survey within the settle window: a person picks one."""
    if any(score != ctx.score and ctx.at - at <= ctx.window for score, at in ctx.earlier):
        return "several_scores"
    return None


RULES: tuple[Callable[[ClickContext], str | None], ...] = (several_scores,)


def assess(ctx: ClickContext) -> list[str]:
    """The reasons this click looks automated; empty for a clean click."""
    return [reason for rule in RULES if (reason := rule(ctx))]
