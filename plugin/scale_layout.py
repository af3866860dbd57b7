"""How a scale is laid out on the page and in the email: a row of numbers, a row of labelled options, or a list.

A labelled row is kept only where every label's longest word fits its column on a desktop (about 100 px at 14 px);
otherwise (and for seven points) the options are a list, one per line, so no word is ever cut or squeezed. The
page and the email make the same choice; tests/test_layout.py checks both at 320, 390 and 1280 px.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from gettext import NullTranslations

from plugin import i18n
from plugin.surveys.scales import Point, Scale

ROW_WIDTH_PX = 560  # the card's inner width on a desktop, page and email alike
FONT_PX = 14


NARROW, WIDE = frozenset("fijlrtI.,;:'!|()"), frozenset("mwMW@%")


def _em(character: str) -> float:
    if unicodedata.east_asian_width(character) in "WF":
        return 1.0  # CJK
    if character in NARROW:
        return 0.32
    if character in WIDE:
        return 0.9
    return 0.66 if character.isupper() else 0.6  # DejaVu Sans, wider than most phones' fonts


def _width(word: str) -> float:
    """An estimate of a word's width in px at FONT_PX, on the generous side."""
    return sum(_em(c) for c in word) * FONT_PX


def layout(scale: Scale, locale: str) -> str:
    """ "numeric", "row" or "list"."""
    if scale.numeric_row:
        return "numeric"
    if len(scale.points) > 5:
        return "list"
    return _labelled(scale.points, i18n.translations(locale))


@lru_cache(maxsize=256)
def _labelled(points: tuple[Point, ...], catalogue: NullTranslations) -> str:
    """Per scale and catalogue (computed on every page and email otherwise): a catalogue loaded again after its
    file changed is another key, so the choice follows it."""
    column = ROW_WIDTH_PX / len(points) - 16  # gaps and padding
    words = (word for point in points for word in catalogue.gettext(point.label).split())
    return "row" if all(_width(word) <= column for word in words) else "list"
