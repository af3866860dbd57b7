"""Colours that keep WCAG 2.2 AA contrast whatever accent an account picks, in light and dark mode.

The brand's accent is kept as it is for the bar along the top (decoration needs no contrast); where it carries meaning
(the button, the chosen option's border, links) it is darkened or lightened just enough to reach the ratio WCAG asks:
4.5:1 for text, 3:1 for the edges of controls (https://www.w3.org/TR/WCAG22/#contrast-minimum,
https://www.w3.org/TR/WCAG22/#non-text-contrast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_HEX = re.compile(r"#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

# The two schemes' fixed colours (text, muted text, page, card, control edges): the pages and the email take them from
# here, and tests/test_followup.py checks their ratios.
LIGHT = {"fg": "#1f2328", "muted": "#57606a", "bg": "#f4f5f7", "card": "#ffffff", "line": "#818b95"}
DARK = {"fg": "#e6edf3", "muted": "#9ea7b3", "bg": "#0d1117", "card": "#161b22", "line": "#6e7781"}


def rgb(colour: str) -> tuple[int, int, int]:
    found = _HEX.fullmatch(colour.strip())
    if not found:
        raise ValueError(f"{colour!r} is not a #rgb or #rrggbb colour")
    digits = found.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def hex_of(value: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(max(0, min(255, c))):02x}" for c in value)


def luminance(colour: str) -> float:
    """Relative luminance as WCAG defines it (sRGB)."""

    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours, 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def reach(colour: str, against: str, ratio: float) -> str:
    """`colour`, mixed towards black or white (whichever `against` is not) until it reaches `ratio` against it."""
    if contrast(colour, against) >= ratio:
        return hex_of(rgb(colour))
    target = (0, 0, 0) if luminance(against) > 0.18 else (255, 255, 255)
    start = rgb(colour)
    for step in range(1, 101):
        mixed = hex_of(tuple(s + (t - s) * step / 100 for s, t in zip(start, target, strict=True)))
        if contrast(mixed, against) >= ratio:
            return mixed
    return hex_of(target)


def text_on(background: str) -> str:
    """Near-black or white, whichever reads better on `background`."""
    dark, light = LIGHT["fg"], "#ffffff"
    return dark if contrast(dark, background) > contrast(light, background) else light


@dataclass(frozen=True)
class Palette:
    """The accent as each scheme shows it: `bar` untouched, the rest readable on that scheme's card."""

    bar: str
    accent: str  # links, chosen option's edge, focus ring: 4.5:1 on the card
    button: str  # the button's fill: 3:1 on the card, its text 4.5:1 on it
    on_button: str
    accent_dark: str
    button_dark: str
    on_button_dark: str


@lru_cache(maxsize=256)  # a pure function of the accent; a worker renders one accent's emails by the thousand
def palette(accent: str) -> Palette:
    accent = hex_of(rgb(accent))

    def button(card: str) -> tuple[str, str]:
        fill = reach(accent, card, 3.0)
        ink = text_on(fill)
        while contrast(ink, fill) < 4.5:  # a mid-tone fill: push it away from its text until both ratios hold
            fill = reach(fill, ink, 4.5)
            ink = text_on(fill)
        return fill, ink

    fill, ink = button(LIGHT["card"])
    fill_dark, ink_dark = button(DARK["card"])
    return Palette(
        bar=accent,
        accent=reach(accent, LIGHT["card"], 4.5),
        button=fill,
        on_button=ink,
        accent_dark=reach(accent, DARK["card"], 4.5),
        button_dark=fill_dark,
        on_button_dark=ink_dark,
    )
