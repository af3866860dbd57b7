"""How often customers picked each reason tag for a negative answer, overall and per agent. No Flask.

Counted ratings only, under the report's filters (plugin/dashboard.py). The tags are a short JSON list per rating,
so they are added up here rather than in SQL: the same code on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin import dashboard
from plugin.models import Rating, Survey


def counts(session: Session, account_id: int, filters: dashboard.Filters) -> list[dict]:
    """[{"reason", "count", "agents": [{"agent_email", "count"}]}], most picked first."""
    query = (
        select(Rating.reason_tags, Rating.agent_email)
        .join(Survey, Survey.id == Rating.survey_id)
        .where(*dashboard.conditions(account_id, filters), Rating.status == "counted", Rating.reason_tags.is_not(None))
    )
    total: Counter[str] = Counter()
    by_agent: dict[str, Counter[str]] = defaultdict(Counter)
    for tags, agent in session.execute(query):
        for tag in set(tags or []):
            total[tag] += 1
            by_agent[tag][agent or ""] += 1
    return [
        {
            "reason": reason,
            "count": n,
            "agents": [
                {"agent_email": agent or None, "count": m}
                for agent, m in sorted(by_agent[reason].items(), key=lambda item: (-item[1], item[0]))
            ],
        }
        for reason, n in sorted(total.items(), key=lambda item: (-item[1], item[0]))
    ]
