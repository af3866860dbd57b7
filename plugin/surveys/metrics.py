"""Scores from ratings: CSAT %, NPS, CES, and the Wilson lower bound used to rank agents."""

from __future__ import annotations

import math
from collections.abc import Iterable

from plugin.surveys.scales import Scale


def csat_percent(scores: Iterable[int], scale: Scale) -> float | None:
    """Share of responses that are satisfied, in percent; None without responses.

    Pass `scales.scale_for(name, account.options)` so an account's csat10 option (8 satisfied too) applies.
    """
    scores = list(scores)
    if not scores:
        return None
    return 100.0 * sum(1 for s in scores if s in scale.satisfied) / len(scores)


def nps(scores: Iterable[int]) -> float | None:
    """% promoters (9-10) minus % detractors (0-6); None without responses."""
    scores = list(scores)
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return 100.0 * (promoters - detractors) / len(scores)


def mean(scores: Iterable[int]) -> float | None:
    scores = list(scores)
    return sum(scores) / len(scores) if scores else None


def wilson_lower_bound(successes: int, total: int, z: float = 1.96) -> float | None:
    """The lower end of the 95% Wilson interval of successes/total, in percent; None when total is 0."""
    if total <= 0:
        return None
    p = successes / total
    denominator = 1 + z * z / total
    centre = p + z * z / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return 100.0 * (centre - margin) / denominator
