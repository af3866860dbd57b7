"""Tables. The database is the source of truth for all work due: surveys, ratings to settle, write-backs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, and_, literal_column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from plugin.db import Base, UTCDateTime, utcnow


class Account(Base):
    """One helpdesk installation: its platform, secrets (encrypted) and survey settings."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(20))
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    api_url: Mapped[str | None] = mapped_column(String(500))
    api_user: Mapped[str | None] = mapped_column(String(200))
    api_token_encrypted: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str] = mapped_column(String(20), default="en")
    scale: Mapped[str] = mapped_column(String(10), default="csat5")
    delay_minutes: Mapped[int] = mapped_column(Integer, default=60)
    throttle_days: Mapped[int] = mapped_column(Integer, default=7)
    settle_minutes: Mapped[int] = mapped_column(Integer, default=10)
    edit_days: Mapped[int] = mapped_column(Integer, default=7)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped by every UPDATE through SQLAlchemy (ORM or Core): a web process's cached copy is used only while the
    # row still has the version it was read at (plugin/accounts.py, plugin/intake.py).
    version: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", onupdate=literal_column("accounts.version") + 1
    )


class WebhookEvent(Base):
    """Every accepted helpdesk event, kept raw; (account, dedupe_key) makes retries harmless."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("account_id", "dedupe_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    ticket_id: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    event_json: Mapped[str | None] = mapped_column(Text)  # the normalized event, while a lookup completes it
    lookup_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lookup_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # next lookup attempt (None: at once)
    lookup_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Survey(Base):
    """One survey for one ticket closing, with the requester and assignee frozen at solve time."""

    __tablename__ = "surveys"
    __table_args__ = (
        Index("ix_surveys_due", "status", "scheduled_at"),
        Index("ix_surveys_ticket", "account_id", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_events.id"))
    ticket_id: Mapped[str] = mapped_column(String(100))
    ticket_subject: Mapped[str] = mapped_column(String(500), default="")
    ticket_url: Mapped[str | None] = mapped_column(String(1000))
    requester_email: Mapped[str] = mapped_column(String(320))
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(20))
    agent_id: Mapped[str | None] = mapped_column(String(100))
    agent_email: Mapped[str | None] = mapped_column(String(320))
    agent_name: Mapped[str | None] = mapped_column(String(200))
    brand: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    scale: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))  # scheduled, sent, skipped, cancelled, failed
    reason: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # How the customer got the rating links: the survey email, or an agent's signature (plugin/signature.py).
    channel: Mapped[str] = mapped_column(String(10), default="email", server_default="email")
    # E.164, for the sms and whatsapp channels (plugin/channels/): from the event or the helpdesk's contact.
    requester_phone: Mapped[str | None] = mapped_column(String(20))

    account: Mapped[Account] = relationship(lazy="joined")


class Click(Base):
    """An append-only record of every action on a rating link: clicks, confirmations, comments."""

    __tablename__ = "clicks"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # click, head, prefetch, limited, confirm, restore
    score: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(8))
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    reasons: Mapped[str] = mapped_column(String(500), default="")  # why it looks like a scanner, comma-separated
    seconds_since_sent: Mapped[float | None] = mapped_column(Float)
    rendered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the page's "visible" beacon arrived
    interacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a person moved, typed or touched
    # What the page saw of its browser ("webdriver=0 window=1280x800 ..."), from its "visible" beacon.
    signals: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # Who lifted the marks: "person" (a human signal lifts weak marks), "admin" (a restore lifts all), or "".
    cleared: Mapped[str] = mapped_column(String(10), default="", server_default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rating(Base):
    """The customer's current answer to one survey, and where it stands in counting."""

    __tablename__ = "ratings"
    __table_args__ = (
        Index("ix_ratings_settle", "status", "settles_at"),
        Index("ix_ratings_agent", "account_id", "agent_email", "counted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    agent_email: Mapped[str | None] = mapped_column(String(320))
    scale: Mapped[str] = mapped_column(String(10))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10))  # pending, counted, flagged
    reasons: Mapped[str] = mapped_column(String(500), default="")
    # The customer's own reasons for a negative answer (plugin/surveys/bands.py), in the account's language.
    reason_tags: Mapped[list | None] = mapped_column(JSON)
    settles_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_click_id: Mapped[int | None] = mapped_column(ForeignKey("clicks.id", name="fk_ratings_last_click_id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Closing the loop on a negative rating (plugin/recovery.py): open, contacted or resolved; None when not negative.
    follow_up: Mapped[str | None] = mapped_column(String(10))
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    follow_up_by: Mapped[str | None] = mapped_column(String(320))

    survey: Mapped[Survey] = relationship(lazy="joined")


class WriteBack(Base):
    """One version of a rating to deliver to the helpdesk; retried by the sweep, parked after the last try."""

    __tablename__ = "write_backs"
    __table_args__ = (
        UniqueConstraint("rating_id", "version"),
        Index("ix_write_backs_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # pending, delivered, parked, superseded
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rating: Mapped[Rating] = relationship(lazy="joined")


class Unsubscribe(Base):
    """An address that asked this account never to survey it again."""

    __tablename__ = "unsubscribes"
    __table_args__ = (UniqueConstraint("account_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdminUser(Base):
    """A person who signs in to /admin for one account; the password is kept as a scrypt hash only."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    # Every session cookie carries the version it was issued under; signing out or a new password bumps it.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What they may see (plugin/admin/roles.py): admin (everything), team_lead (`teams`), agent (`agent_email`).
    role: Mapped[str] = mapped_column(String(10), default="admin", server_default="admin")
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    teams: Mapped[str] = mapped_column(Text, default="", server_default="")  # team names, one per line
    agent_email: Mapped[str | None] = mapped_column(String(320))  # the helpdesk's address for them (agents)
    locale: Mapped[str | None] = mapped_column(String(20))  # their UI and digest language; None: the account's
    # The weekly digest (plugin/digest.py): opted in when a weekday is set (0 Monday .. 6 Sunday), at this UTC hour.
    digest_weekday: Mapped[int | None] = mapped_column(Integer)
    digest_hour: Mapped[int] = mapped_column(Integer, default=8, server_default="8")


class DigestSend(Base):
    """One weekly digest to one person for one week: the row that makes sending it idempotent."""

    __tablename__ = "digest_sends"
    __table_args__ = (UniqueConstraint("admin_user_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_user_id: Mapped[int] = mapped_column(ForeignKey("admin_users.id"))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)  # the Monday 00:00 UTC that the digest's week began
    status: Mapped[str] = mapped_column(String(12))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# The dashboard (plugin/dashboard.py; bench/report_queries.py times it): surveys sent in a period per account, their
# counted scores read from the index alone, and the newest comments and flagged clicks without sorting every rating.
Index("ix_surveys_sent", Survey.account_id, Survey.status, Survey.sent_at)
Index("ix_ratings_survey_score", Rating.survey_id, Rating.status, Rating.score)
Index("ix_ratings_recent", Rating.account_id, Rating.updated_at)
Index("ix_ratings_status_created", Rating.account_id, Rating.status, Rating.created_at)


class Alert(Base):
    """One alert about one counted version of a rating on one channel (slack or email); sent once, retried."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rating_id", "version", "channel"),
        Index("ix_alerts_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    version: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))  # slack, email, helpdesk (reopen or a follow-up task)
    reason: Mapped[str] = mapped_column(String(20))  # low_score, comment
    status: Mapped[str] = mapped_column(String(12))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboundWebhook(Base):
    """A URL of the account's that receives every rating change as signed JSON."""

    __tablename__ = "outbound_webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    url: Mapped[str] = mapped_column(String(1000))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One version of a rating on its way to one outbound webhook: the delivery log, retried with backoff."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "rating_id", "version"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("outbound_webhooks.id"))
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))  # pending, delivered, failed
    payload: Mapped[str] = mapped_column(Text)  # the JSON body, fixed when queued so every retry is identical
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# One signature-link survey per (account, ticket, agent): two first clicks racing in find the same row.
Index(
    "uq_surveys_signature",
    Survey.account_id,
    Survey.ticket_id,
    Survey.agent_email,
    unique=True,
    sqlite_where=Survey.channel == "signature",
    postgresql_where=Survey.channel == "signature",
)


class SignatureCheck(Base):
    """Whether the helpdesk has confirmed a signature survey's ticket names its agent; until then its rating is held."""

    __tablename__ = "signature_checks"
    __table_args__ = (
        Index("ix_signature_checks_agent", "account_id", "agent_email", "created_at"),
        Index("ix_signature_checks_ticket", "account_id", "ticket_id"),
        Index("ix_signature_checks_due", "status", "lookup_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    ticket_id: Mapped[str] = mapped_column(String(100))
    agent_email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(12))  # unverified, verified
    reason: Mapped[str] = mapped_column(Text, default="")
    lookup_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lookup_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: no API lookup (left) to make
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignatureRefusal(Base):
    """A signature-link request refused (over the daily cap of new unverified tickets): kept as an event."""

    __tablename__ = "signature_refusals"
    __table_args__ = (Index("ix_signature_refusals_account", "account_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    agent_email: Mapped[str] = mapped_column(String(320))
    ticket_id: Mapped[str] = mapped_column(String(100))
    score: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SidebarLink(Base):
    """A sidebar link issued to one agent (platforms without a signed app request): short-lived and revocable."""

    __tablename__ = "sidebar_links"
    __table_args__ = (Index("ix_sidebar_links_agent", "account_id", "agent_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    agent_email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(10), default="agent")  # agent, lead: a lead sees colleagues' figures
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the random token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ZendeskInstallation(Base):
    """The Zendesk app installation whose signed-URL JWTs (RS256) open an account's sidebar."""

    __tablename__ = "zendesk_installations"
    __table_args__ = (UniqueConstraint("issuer", "installation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    issuer: Mapped[str] = mapped_column(String(255))  # the JWT's iss: <subdomain>.zendesk.com
    installation_id: Mapped[str] = mapped_column(String(40))
    public_key: Mapped[str] = mapped_column(Text)  # PEM, from the app's installation settings or its API
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SidebarTokenUse(Base):
    """A single-use sidebar JWT already seen (its jti, or a hash of it): a replay is refused."""

    __tablename__ = "sidebar_token_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(128), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # kept until the token expires anyway
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SidebarAccess(Base):
    """May this helpdesk user see this ticket (and colleagues' figures)? Asked of the helpdesk API in a job, cached."""

    __tablename__ = "sidebar_access"
    __table_args__ = (
        UniqueConstraint("account_id", "user_id", "ticket_id"),
        Index("ix_sidebar_access_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    user_id: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))  # checking, allowed, denied
    user_email: Mapped[str | None] = mapped_column(String(320))
    lead: Mapped[bool] = mapped_column(default=False)  # an admin or team lead: sees colleagues' figures
    reason: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the next lookup while checking
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketAgent(Base):
    """The helpdesk named this agent as the assignee of this ticket in some event: signature ratings may count."""

    __tablename__ = "ticket_agents"
    __table_args__ = (UniqueConstraint("account_id", "ticket_id", "agent_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    ticket_id: Mapped[str] = mapped_column(String(100))
    agent_email: Mapped[str] = mapped_column(String(320))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Partial indexes whose predicate is the query's own constant condition, so the planner picks them from the SQL
# alone, with or without statistics (migration 0018): the skip rules (surveys/scheduling.py) and the sweep's
# lookups (jobs/sweep.py). They replaced the full indexes on the requester's email and phone (migration 0024).
_ACTIVE = Survey.status.in_(("scheduled", "sent"))
Index(
    "ix_surveys_scheduled_ticket",
    Survey.account_id,
    Survey.ticket_id,
    sqlite_where=Survey.status == "scheduled",
    postgresql_where=Survey.status == "scheduled",
)
Index(
    "ix_surveys_active_requester",
    Survey.account_id,
    Survey.requester_email,
    Survey.created_at,
    sqlite_where=_ACTIVE,
    postgresql_where=_ACTIVE,
)
# Only rows with a phone (migration 0019): without statistics the planner took the phone index for the email check
# too (both match account_id and created_at) and read every active survey of the week; a check by phone implies
# the phone is not null, a check by email does not, so now only the phone check can use it.
_ACTIVE_WITH_PHONE = and_(_ACTIVE, Survey.requester_phone.is_not(None))
Index(
    "ix_surveys_active_phone",
    Survey.account_id,
    Survey.requester_phone,
    Survey.created_at,
    sqlite_where=_ACTIVE_WITH_PHONE,
    postgresql_where=_ACTIVE_WITH_PHONE,
)
Index(
    "ix_webhook_events_lookup",
    WebhookEvent.lookup_due_at,
    sqlite_where=WebhookEvent.event_json.is_not(None),
    postgresql_where=WebhookEvent.event_json.is_not(None),
)


class ChannelConfig(Base):
    """A messaging provider set up for an account (twilio, vonage, whatsapp, chatwoot); secrets encrypted."""

    __tablename__ = "channel_configs"
    __table_args__ = (UniqueConstraint("account_id", "provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    provider: Mapped[str] = mapped_column(String(20))
    api_url: Mapped[str | None] = mapped_column(String(500))  # None: the provider's public API
    sender: Mapped[str] = mapped_column(String(100), default="")  # our number, phone number id or sender id
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # non-secret options (template, service sid...)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)  # SecretBox over a JSON object
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsPart(Base):
    """One part of a long inbound SMS, kept until every part is in (or the wait is over): plugin/channels/concat.py.

    A part is unique by (account, provider, sender, concat ref, part number), so a repeated delivery changes nothing.
    """

    __tablename__ = "sms_parts"
    __table_args__ = (
        UniqueConstraint("account_id", "provider", "their_address", "concat_ref", "part"),
        Index("ix_sms_parts_due", "status", "join_due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    provider: Mapped[str] = mapped_column(String(20))
    their_address: Mapped[str] = mapped_column(String(100))
    our_address: Mapped[str] = mapped_column(String(100), default="")
    concat_ref: Mapped[str] = mapped_column(String(100))
    part: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    provider_message_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10))  # waiting, joined
    join_due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # taken as the message then, whatever is missing
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelMessage(Base):
    """One message on a messaging channel, either way: our questions (delivered by a job) and what came back.

    Inbound deliveries are deduplicated by (account, provider, dedupe_key): a provider's retry changes nothing.
    Status callbacks are kept as rows of kind "status" and move the outbound row forward (plugin/channels/replies.py).
    """

    __tablename__ = "channel_messages"
    __table_args__ = (
        UniqueConstraint("account_id", "provider", "dedupe_key"),
        Index("ix_channel_messages_pair", "account_id", "their_address", "created_at"),
        Index("ix_channel_messages_provider_id", "provider", "provider_message_id"),
        Index("ix_channel_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    survey_id: Mapped[int | None] = mapped_column(ForeignKey("surveys.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(3))  # out, in
    kind: Mapped[str] = mapped_column(String(12))  # question, followup, help, thanks; reply, status
    dedupe_key: Mapped[str] = mapped_column(String(200))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    our_address: Mapped[str] = mapped_column(String(100), default="")
    their_address: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))  # pending (to send), the provider's status, or what a reply did
    error_code: Mapped[str | None] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
