"""Score bands: which answers are negative, neutral or positive, what the page asks after each, and the reason tags
a negative answer may pick. No Flask.

Account options (admin settings, docs/emails.md):
  followup_negative / followup_neutral / followup_positive (and `_<locale>` variants): the follow-up question;
  reason_tags: one reason per line, in the account's language; `reason_tags_<locale>`: the same list, line by line,
  in another language. A rating stores the chosen reasons as the account-language lines, so counts add up across
  languages.
"""

from __future__ import annotations

from collections.abc import Mapping

from plugin import i18n
from plugin.i18n import N_
from plugin.surveys.scales import Scale, scale_for

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
BANDS = (NEGATIVE, NEUTRAL, POSITIVE)
# The highest negative score per scale: NPS detractors are 0-6 (Bain's definition), CES 1-3 is "difficult".
NEGATIVE_UP_TO = {"thumbs": 1, "csat3": 1, "csat5": 2, "csat10": 6, "nps": 6, "ces7": 3}
QUESTIONS = {
    NEGATIVE: N_("What could we improve?"),
    NEUTRAL: N_("What would have made it better?"),
    POSITIVE: N_("What did we do well?"),
}
MAX_REASONS = 12
MAX_REASON_CHARS = 60


def band(scale: Scale, score: int) -> str:
    """The band of `score` on `scale` as the account counts it (its satisfied answers are the positive ones)."""
    if score in scale.satisfied:
        return POSITIVE
    return NEGATIVE if score <= NEGATIVE_UP_TO[scale.name] else NEUTRAL


def question(options: Mapping | None, band_name: str, locale: str) -> str:
    """The account's follow-up question for the band in `locale`, else its all-languages one, else ours translated."""
    options = options or {}
    key = f"followup_{band_name}"
    own = str(options.get(f"{key}_{locale}") or options.get(key) or "").strip()
    return own or i18n.gettext(locale, QUESTIONS[band_name])


def reason_lines(value: object) -> list[str]:
    """The non-empty lines of a reason-tag option, trimmed."""
    return [line.strip() for line in str(value or "").splitlines() if line.strip()]


def reasons(options: Mapping | None, locale: str) -> list[tuple[str, str]]:
    """(stored key, text in `locale`) for each of the account's reason tags; the key is the account-language text."""
    options = options or {}
    keys = reason_lines(options.get("reason_tags"))
    local = reason_lines(options.get(f"reason_tags_{locale}"))
    return [(key, local[i] if i < len(local) else key) for i, key in enumerate(keys)]


def picked(survey, score: int, values: list[str]) -> list[str]:
    """The reasons to store with an answer: only for a negative one, only the account's (anything else is dropped),
    in the account's order, once each."""
    options = survey.account.options or {}
    if band(scale_for(survey.scale, options), score) != NEGATIVE:
        return []
    wanted = set(values)
    return [key for key, _ in reasons(options, "") if key in wanted]


def stored(rating) -> list[str]:
    """The reasons a rating carries (none for no rating)."""
    return list(getattr(rating, "reason_tags", None) or [])


def check_option(value: str) -> str | None:
    """Why a reason-tag list cannot be used, or None."""
    lines = reason_lines(value)
    if len(lines) > MAX_REASONS:
        return f"at most {MAX_REASONS} reasons"
    if any(len(line) > MAX_REASON_CHARS for line in lines):
        return f"each reason at most {MAX_REASON_CHARS} characters"
    if len(set(lines)) != len(lines):
        return "each reason once"
    return None
