"""Who sees what in /admin: admins everything of their account, team leads their teams, agents their own ratings.

The scope is applied to the report filters (plugin.dashboard.Filters.within_*), so every figure, list and export a
person gets is computed over their part only; a filter they type cannot widen it. No Flask.
"""

from __future__ import annotations

from dataclasses import replace

from plugin.dashboard import Filters
from plugin.models import AdminUser, Survey

ADMIN, TEAM_LEAD, AGENT = "admin", "team_lead", "agent"
ROLES = (ADMIN, TEAM_LEAD, AGENT)
ROLE_LABELS = {ADMIN: "Admin", TEAM_LEAD: "Team lead", AGENT: "Agent"}
DIGEST_ROLES = (ADMIN, TEAM_LEAD)  # the weekly digest is for people who lead others


def teams_of(user: AdminUser) -> tuple[str, ...]:
    return tuple(t.strip() for t in (user.teams or "").splitlines() if t.strip())


def agent_address(user: AdminUser) -> str:
    """The address the helpdesk knows an agent by (their sign-in email unless set apart)."""
    return (user.agent_email or user.email).lower()


def narrow(filters: Filters, user: AdminUser) -> Filters:
    """`filters` limited to what `user` may see."""
    if user.role == TEAM_LEAD:
        return replace(filters, within_teams=teams_of(user))
    if user.role == AGENT:
        return replace(filters, within_agents=(agent_address(user),))
    if user.role == ADMIN:
        return filters
    return replace(filters, within_agents=())  # an unknown role sees nothing


def may_see(user: AdminUser, survey: Survey) -> bool:
    """Whether one survey (and its rating) is inside `user`'s part of the account."""
    if survey.account_id != user.account_id:
        return False
    if user.role == ADMIN:
        return True
    if user.role == TEAM_LEAD:
        return survey.team in teams_of(user)
    if user.role == AGENT:
        return (survey.agent_email or "").lower() == agent_address(user)
    return False
