"""The rating scales of DESIGN.md: their points, labels, and which answers count as satisfied."""

from __future__ import annotations

from dataclasses import dataclass


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


QUESTION = "How would you rate the support you received?"

SCALES: dict[str, Scale] = {
    scale.name: scale
    for scale in (
        Scale(
            "csat5",
            "csat",
            QUESTION,
            (
                Point(1, "Very dissatisfied", "😠"),
                Point(2, "Dissatisfied", "🙁"),
                Point(3, "Neutral", "😐"),
                Point(4, "Satisfied", "🙂"),
                Point(5, "Very satisfied", "😄"),
            ),
            frozenset({4, 5}),
        ),
        Scale(
            "csat3",
            "csat",
            QUESTION,
            (Point(1, "Unhappy", "🙁"), Point(2, "Neutral", "😐"), Point(3, "Happy", "🙂")),
            frozenset({3}),
        ),
        Scale("thumbs", "csat", QUESTION, (Point(1, "Bad", "👎"), Point(2, "Good", "👍")), frozenset({2})),
        Scale("csat10", "csat", QUESTION, _numbers(1, 10), frozenset({9, 10})),
        Scale(
            "nps",
            "nps",
            "How likely are you to recommend us to a friend or colleague?",
            _numbers(0, 10),
            frozenset({9, 10}),
        ),
        Scale(
            "ces7",
            "ces",
            "How easy was it to get your issue resolved?",
            (
                Point(1, "Very difficult", "1"),
                Point(2, "Difficult", "2"),
                Point(3, "Somewhat difficult", "3"),
                Point(4, "Neither", "4"),
                Point(5, "Somewhat easy", "5"),
                Point(6, "Easy", "6"),
                Point(7, "Very easy", "7"),
            ),
            frozenset({5, 6, 7}),
        ),
    )
}

DEFAULT_SCALE = "csat5"


def get_scale(name: str) -> Scale:
    """The scale called `name`; ValueError listing the valid names otherwise."""
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None
