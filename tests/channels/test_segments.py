"""Every catalogue language's survey SMS fits one segment (GSM-7 160 / UCS-2 70), whatever the catalogue renders,
for every scale; and the segment arithmetic itself against Twilio's stated limits."""

from __future__ import annotations

import pytest

from plugin.channels.sms import interpret, question_text, segments
from plugin.i18n import LOCALES
from plugin.surveys.scales import SCALES

LINK = "https://csat.example.com/c/MTIzNDU2.abcdefghijklmnopqrstuvwxyz0"


def test_segment_arithmetic():
    assert segments("a" * 160).count == 1 and segments("a" * 161).count == 2 and segments("a" * 306).count == 2
    assert segments("ą" * 70).encoding == "UCS-2" and segments("ą" * 70).count == 1 and segments("ą" * 71).count == 2
    assert segments("€" * 80).units == 160 and segments("€" * 81).count == 2  # extension table: 2 septets each
    assert segments("Α").encoding == "UCS-2"  # Greek capital alpha is not GSM-7's A
    assert segments("Δ").encoding == "GSM-7"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("scale", list(SCALES))
def test_every_language_and_scale_fits_one_segment(locale, scale):
    text = question_text(SCALES[scale], locale, "Acme Support", None, LINK)
    measured = segments(text)
    print(f"{locale} {scale}: {measured.encoding} {measured.units} units, {measured.count} segment(s): {text}")
    assert measured.count == 1, text
    assert "STOP" in text  # the opt-out instruction is never dropped to make room


@pytest.mark.parametrize(
    ("text", "kind", "score"),
    [
        ("5", "score", 5),
        (" 4. ", "score", 4),
        ("５", "score", 5),
        ("5 - Very satisfied", "score", 5),
        ("6", "text", None),
        ("0", "text", None),
        ("STOP", "stop", None),
        ("stop texting me", "stop", None),
        ("Start", "start", None),
        ("HELP", "help", None),
        ("great, thanks", "text", None),
        ("45", "text", None),
    ],
)
def test_reply_meaning_on_csat5(text, kind, score):
    meaning = interpret(SCALES["csat5"], text)
    assert (meaning.kind, meaning.score) == (kind, score)
