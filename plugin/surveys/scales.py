"""The rating scales of DESIGN.md: their points, labels, and which answers count as satisfied.

Labels and questions are English catalogue ids (marked with N_ for extraction); emails and pages show them through
the survey's catalogue (plugin/i18n.py), while write-backs, alerts and reports keep the English text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from plugin.i18n import N_


@dataclass(frozen=True)
class Point:
    score: int
    label: str
    symbol: str


@dataclass(frozen=True)
class Scale:
    name: str
    kind: str  # csat, nps or ces: which score summarises it
    question: str
    points: tuple[Point, ...]
    satisfied: frozenset[int]
    # Numeric scales (NPS, 1-10) show a row of numbers with a label at each end instead of a label per point.
    low_label: str = ""
    high_label: str = ""

    @property
    def numeric_row(self) -> bool:
        return bool(self.low_label)

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(point.score for point in self.points)

    @property
    def max_score(self) -> int:
        return self.points[-1].score

    def point(self, score: int) -> Point:
        for point in self.points:
            if point.score == score:
                return point
        raise ValueError(f"{score} is not a point of the {self.name} scale")

    def tag(self, score: int) -> str:
        """The helpdesk tag for a score, with the scale in it (csat_4_of_5, nps_9_of_10)."""
        return f"{self.kind}_{score}_of_{self.max_score}"


def _numbers(first: int, last: int) -> tuple[Point, ...]:
    return tuple(Point(n, str(n), str(n)) for n in range(first, last + 1))


QUESTION = N_("How would you rate the support you received?")

SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale(
            "csat5",
            "csat",
            QUESTION,
            (
                Point(1, N_("Very dissatisfied"), "😠"),
                Point(2, N_("Dissatisfied"), "🙁"),
                Point(3, N_("Neutral"), "😐"),
                Point(4, N_("Satisfied"), "🙂"),
                Point(5, N_("Very satisfied"), "😄"),
            ),
            frozenset({4, 5}),
        ),
        Scale(
            "csat3",
            "csat",
            QUESTION,
            (Point(1, N_("Unhappy"), "🙁"), Point(2, N_("Neutral"), "😐"), Point(3, N_("Happy"), "🙂")),
            frozenset({3}),
        ),
        Scale("thumbs", "csat", QUESTION, (Point(1, N_("Bad"), "👎"), Point(2, N_("Good"), "👍")), frozenset({2})),
        Scale(
            "csat10",
            "csat",
            QUESTION,
            _numbers(1, 10),
            frozenset({9, 10}),
            N_("Very dissatisfied"),
            N_("Very satisfied"),
        ),
        Scale(
            "nps",
            "nps",
            N_("How likely are you to recommend us to a friend or colleague?"),
            _numbers(0, 10),
            frozenset({9, 10}),
            N_("Not at all likely"),
            N_("Extremely likely"),
        ),
        Scale(
            "ces7",
            "ces",
            N_("How easy was it to get your issue resolved?"),
            (
                Point(1, N_("Very difficult"), "1"),
                Point(2, N_("Difficult"), "2"),
                Point(3, N_("Somewhat difficult"), "3"),
                Point(4, N_("Neither"), "4"),
                Point(5, N_("Somewhat easy"), "5"),
                Point(6, N_("Easy"), "6"),
                Point(7, N_("Very easy"), "7"),
            ),
            frozenset({5, 6, 7}),
        ),
    )
}

DEFAULT_SCALE = "csat5"
# Account option: on csat10, 8 counts as satisfied too (DESIGN.md: "9, 10 (8 too if the account says so)").
CSAT10_EIGHT_OPTION = "csat10_eight_is_satisfied"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


def get_scale(name: str) -> Scale:
    """The scale called `name`; ValueError listing the valid names otherwise."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None


def scale_for(name: str, options: Mapping | None = None) -> Scale:
    """The scale as this account counts it: csat10 with 8 satisfied when the account's option says so."""
    scale = get_scale(name)
    if name == "csat10" and str((options or {}).get(CSAT10_EIGHT_OPTION, "")).strip().lower() in TRUE_WORDS:
        return replace(scale, satisfied=scale.satisfied | {8})
    return scale


def custom_question(options: Mapping | None, locale: str) -> str | None:
    """The account's own question text (option `question_<locale>`, else `question`), or None for the scale's."""
    options = options or {}
    text = str(options.get(f"question_{locale}") or options.get("question") or "").strip()
    return text or None
