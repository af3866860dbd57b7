"""What an SMS survey says, how long it is (GSM-7 or UCS-2 segments), and what a reply means.

One segment where the language allows: the longest wording that fits one segment wins, down to a short English
fallback that always fits (docs/channels.md). Segment rules: GSM 03.38 basic table 1 septet, extension table 2;
160/153 septets (GSM-7) or 70/67 UTF-16 units (UCS-2) for one/each concatenated segment.
Sources: https://www.twilio.com/docs/glossary/what-sms-character-limit ,
https://www.twilio.com/docs/glossary/what-is-ucs-2-character-encoding .
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from plugin import i18n
from plugin.i18n import N_
from plugin.surveys.scales import Scale

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
_BASIC, _EXTENSION = frozenset(GSM7_BASIC), frozenset(GSM7_EXTENSION)

SMS_QUESTION = N_("How did we do?")
SHORT_INSTRUCTION = N_("Reply %(low)d-%(high)d (%(high)d = best).")
LONG_INSTRUCTION = N_("Reply %(low)d-%(high)d: %(low)d %(low_label)s ... %(high)d %(high_label)s.")
LINK = N_("Or tap %(url)s")
OPT_OUT = N_("Reply STOP to opt out.")
FOLLOW_UP = N_("Thanks! What could we improve? Reply with a few words.")
ENGLISH = "en"  # a name, not a literal: `gettext("en", ...)` would put "en" in the catalogues as a message
HELP = N_("Sorry, we did not get that. Reply with a number from %(low)d to %(high)d, or STOP to opt out.")

# Twilio's default opt-out words, and what lifts or asks about the block (single-word messages only):
# https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out . FCC 24-18 adds "any reasonable method", so a
# short message that starts with one of these words counts too ("stop texting me").
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt-out"})
START_WORDS = frozenset({"start", "yes", "unstop"})
HELP_WORDS = frozenset({"help", "info"})
_SCORE = re.compile(r"(\d{1,2})(?:\s*[-\u2013\u2014:.)]\s*\S.*|[\s.!)]*)", re.DOTALL)


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets or UTF-16 code units
    count: int

    @property
    def single_limit(self) -> int:
        return 160 if self.encoding == "GSM-7" else 70


def segments(text: str) -> Segments:
    """How many SMS segments `text` takes, in the encoding a carrier would use."""
    if all(char in _BASIC or char in _EXTENSION for char in text):
        units, single, multi, encoding = sum(2 if c in _EXTENSION else 1 for c in text), 160, 153, "GSM-7"
    else:
        units, single, multi, encoding = len(text.encode("utf-16-le")) // 2, 70, 67, "UCS-2"
    count = 1 if units <= single else -(-units // multi)
    return Segments(encoding, units, count)


def question_text(scale: Scale, locale: str, company: str, question: str | None, link: str | None) -> str:
    """The survey SMS: the longest wording in the customer's language that fits one segment (opt-out always in)."""
    low, high = scale.points[0], scale.points[-1]

    def t(message: str, **values) -> str:
        return i18n.gettext(locale, message) % values if values else i18n.gettext(locale, message)

    low_label = t(scale.low_label or low.label).lower()
    high_label = t(scale.high_label or high.label).lower()
    sender = _sender_name(company)
    question = question or t(scale.question)
    long = t(LONG_INSTRUCTION, low=low.score, high=high.score, low_label=low_label, high_label=high_label)
    short = t(SHORT_INSTRUCTION, low=low.score, high=high.score)
    stop = t(OPT_OUT)
    tap = t(LINK, url=link) if link else None
    english_short = i18n.gettext(ENGLISH, SHORT_INSTRUCTION) % {"low": low.score, "high": high.score}
    candidates = [
        *([f"{sender}: {question} {long} {tap} {stop}", f"{sender}: {question} {short} {tap} {stop}"] if tap else []),
        f"{sender}: {question} {long} {stop}",
        f"{sender}: {question} {short} {stop}",
        f"{sender}: {t(SMS_QUESTION)} {short} {stop}",
        f"{sender}: {SMS_QUESTION} {english_short} {i18n.gettext(ENGLISH, OPT_OUT)}",
    ]
    return next((text for text in candidates if segments(text).count == 1), candidates[-1])


def follow_up_text(locale: str) -> str:
    return i18n.gettext(locale, FOLLOW_UP)


def help_text(scale: Scale, locale: str) -> str:
    return i18n.gettext(locale, HELP) % {"low": scale.points[0].score, "high": scale.points[-1].score}


def _sender_name(company: str) -> str:
    """The business name every survey SMS starts with (CTIA), kept short and to GSM-7 where it can be."""
    name = " ".join(company.split())[:20].strip() or "Support"
    return name


@dataclass(frozen=True)
class Meaning:
    kind: str  # score, stop, start, help, text
    score: int | None = None


def interpret(scale: Scale, text: str) -> Meaning:
    """What a typed reply means on `scale`: a score in range, an opt-out word, START, HELP, or free text."""
    clean = unicodedata.normalize("NFKC", text or "").strip()
    words = clean.casefold().rstrip(".!").split()
    if words and words[0].strip(".!,") in STOP_WORDS and len(words) <= 6:
        return Meaning("stop")
    if len(words) == 1 and words[0] in START_WORDS:
        return Meaning("start")
    if len(words) == 1 and words[0] in HELP_WORDS:
        return Meaning("help")
    match = _SCORE.fullmatch(clean)
    if match and int(match.group(1)) in scale.scores:
        return Meaning("score", int(match.group(1)))
    return Meaning("text")
