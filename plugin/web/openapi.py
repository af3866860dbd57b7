"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json (a test keeps it equal to the routes)."""

from __future__ import annotations

from plugin.dashboard import BUCKETS
from plugin.reports import CHANNELS, RATING_STATUSES, SURVEY_STATUSES
from plugin.surveys.scales import SCALES


def _param(name: str, description: str, schema: dict | None = None, where: str = "query", required: bool = False):
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


TIME = {"type": "string", "description": "ISO-8601 date or date-time; UTC when no offset is given"}
SINCE = _param("since", "Surveys sent (or, for ratings, ratings created) at or after this time.", TIME)
UNTIL = _param("until", "...and before this time (exclusive).", TIME)
REPORT_FILTERS = [
    SINCE,
    UNTIL,
    _param("agent", "The assignee's email at solve time."),
    _param("team", "The helpdesk group at solve time."),
    _param("scale", "Only surveys on this scale.", {"type": "string", "enum": list(SCALES)}),
    _param("brand", "The helpdesk brand."),
    _param("language", "The survey's language (the requester's locale), e.g. en or pt-BR."),
]
NUMBER = {"type": ["number", "null"]}
# Row ids are 32-bit integer columns; the app answers 400 for anything outside (plugin/web/edge.py).
ID = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
FIGURES = {
    "type": "object",
    "description": "Counted ratings of the surveys sent in the period under the filters, and those surveys.",
    "properties": {
        "surveys_sent": {"type": "integer"},
        "responses": {"type": "integer"},
        "response_rate": {**NUMBER, "description": "responses / surveys_sent, in percent"},
        "satisfied": {"type": "integer"},
        "csat": {**NUMBER, "description": "satisfied / responses, in percent"},
        "csat_lower_bound": {**NUMBER, "description": "95 % Wilson lower bound of csat, in percent"},
        "nps": NUMBER,
        "nps_responses": {"type": "integer"},
        "ces": {**NUMBER, "description": "mean CES score (1-7)"},
        "ces_responses": {"type": "integer"},
    },
}
WEBHOOK = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string"},
        "active": {"type": "boolean", "description": "false once removed"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
ERROR = {
    "description": "What was wrong",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
UNAUTHORIZED = {**ERROR, "description": "Missing or unknown API key"}
WEBHOOK_ID = _param("webhook_id", "The webhook's id.", ID, "path", required=True)


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _list(key: str, item: str) -> dict:
    return {"type": "object", "properties": {key: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}}}


def _get(summary: str, parameters: list, ok: dict, public: bool = False) -> dict:
    operation = {"summary": summary, "parameters": parameters, "responses": {"200": ok, "400": ERROR}}
    if public:
        operation["security"] = []
    else:
        operation["responses"]["401"] = UNAUTHORIZED
    return {"get": operation}


def document() -> dict:
    """The whole document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OpenCSAT API",
            "version": "1",
            "description": "Ratings, surveys and report figures of one account. Authenticate with the account's API "
            "key: `Authorization: Bearer <api_key>`.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}],
        "paths": {
            "/ratings": _get(
                "Ratings, oldest first, 100 per page (follow `next`).",
                [
                    _param("ticket_id", "The helpdesk's ticket id."),
                    _param("agent", "The assignee's email at solve time."),
                    _param("since", "Ratings created at or after this time.", TIME),
                    _param("until", "...and before this time (exclusive).", TIME),
                    _param("status", "Where the rating stands.", {"type": "string", "enum": list(RATING_STATUSES)}),
                    _param(
                        "channel", "How the survey reached the customer.", {"type": "string", "enum": list(CHANNELS)}
                    ),
                    _param("limit", "Page size (at most 500).", {"type": "integer", "minimum": 1, "maximum": 500}),
                    _param("cursor", "From the `next` link.", {"type": "integer"}),
                ],
                _json(
                    "A page of ratings",
                    {
                        **_list("ratings", "Rating"),
                        "properties": {
                            **_list("ratings", "Rating")["properties"],
                            "next": {"type": ["string", "null"]},
                        },
                    },
                ),
            ),
            "/ratings.csv": _get(
                "The same ratings as CSV, all pages.",
                [
                    _param("ticket_id", "The helpdesk's ticket id."),
                    _param("agent", "The assignee's email at solve time."),
                    _param("since", "Ratings created at or after this time.", TIME),
                    _param("until", "...and before this time (exclusive).", TIME),
                    _param("status", "Where the rating stands.", {"type": "string", "enum": list(RATING_STATUSES)}),
                    _param(
                        "channel", "How the survey reached the customer.", {"type": "string", "enum": list(CHANNELS)}
                    ),
                ],
                {"description": "CSV with a header row", "content": {"text/csv": {"schema": {"type": "string"}}}},
            ),
            "/surveys": _get(
                "Surveys, newest first.",
                [
                    _param("ticket_id", "The helpdesk's ticket id."),
                    _param("status", "Survey status.", {"type": "string", "enum": list(SURVEY_STATUSES)}),
                ],
                _json("Surveys", _list("surveys", "Survey")),
            ),
            "/surveys/{survey_id}/replay": {
                "post": {
                    "summary": "Schedule a failed survey again, now (attempts start over).",
                    "parameters": [_param("survey_id", "The survey's id.", ID, "path", required=True)],
                    "responses": {
                        "202": _json("Queued", {"type": "object"}),
                        "400": {**ERROR, "description": "The id is not a valid id"},
                        "401": UNAUTHORIZED,
                        "404": {**ERROR, "description": "No failed survey with this id"},
                    },
                }
            },
            "/agents": _get(
                "Per agent: responses, response rate and scores over surveys sent in the period.",
                [SINCE, UNTIL],
                _json("Agents ranked by csat_lower_bound", _list("agents", "Agent")),
            ),
            "/channels": _get(
                "Per channel (email, sms, whatsapp, chat): surveys sent in the period, responses, response rate.",
                [SINCE, UNTIL],
                _json("Channels", _list("channels", "Channel")),
            ),
            "/teams": _get(
                "Per team: the dashboard's figures; ranked (rank) once a team has 5 responses.",
                REPORT_FILTERS,
                _json("Teams", _list("teams", "Team")),
            ),
            "/summary": _get(
                "The dashboard's totals, figures per day/week/month, the distribution of scores and the reason tags"
                " customers picked (per reason and per agent).",
                [
                    *REPORT_FILTERS,
                    _param("bucket", "Period of the over-time rows.", {"type": "string", "enum": list(BUCKETS)}),
                ],
                _json("Summary", {"$ref": "#/components/schemas/Summary"}),
            ),
            "/write-backs": _get(
                "Write-backs to the helpdesk, newest first.",
                [
                    _param(
                        "status",
                        "Delivery status.",
                        {"type": "string", "enum": ["pending", "delivered", "parked", "superseded"]},
                    )
                ],
                _json("Write-backs", _list("write_backs", "WriteBack")),
            ),
            "/write-backs/{write_back_id}/replay": {
                "post": {
                    "summary": "Put a parked write-back back in line.",
                    "parameters": [_param("write_back_id", "The write-back's id.", ID, "path", required=True)],
                    "responses": {
                        "202": _json("Queued", {"type": "object"}),
                        "401": UNAUTHORIZED,
                        "404": {**ERROR, "description": "No parked write-back with this id"},
                    },
                }
            },
            "/flagged": _get(
                "Flagged ratings waiting for review, with every click of their survey and its reasons.",
                [],
                _json("Flagged ratings", {"type": "object", "properties": {"flagged": {"type": "array"}}}),
            ),
            "/signature-ratings": _get(
                "Signature-link ratings held until the helpdesk confirms the ticket names the agent, with the reason,"
                " and the requests refused over the daily cap of new unverified tickets per agent.",
                [],
                _json(
                    "Held ratings",
                    {
                        "type": "object",
                        "properties": {"ratings": {"type": "array"}, "refused": {"type": "array"}},
                    },
                ),
            ),
            "/sidebar-links": {
                **_get(
                    "The account's per-agent sidebar links, newest first, without their tokens.",
                    [],
                    _json("Links", {"type": "object", "properties": {"links": {"type": "array"}}}),
                ),
                "post": {
                    "summary": "Issue a sidebar link for one agent (its token answered once); their older one stops.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["agent_email"],
                                    "properties": {
                                        "agent_email": {"type": "string", "format": "email"},
                                        "days": {"type": "integer", "minimum": 1, "maximum": 30, "default": 7},
                                        "lead": {"type": "boolean", "default": False},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json("Issued", {"type": "object"}),
                        "400": ERROR,
                        "401": UNAUTHORIZED,
                    },
                },
            },
            "/sidebar-links/{link_id}": {
                "delete": {
                    "summary": "Revoke a sidebar link at once.",
                    "parameters": [_param("link_id", "The link's id.", {"type": "integer"}, "path", required=True)],
                    "responses": {
                        "200": _json("Revoked", {"type": "object"}),
                        "401": UNAUTHORIZED,
                        "404": {**ERROR, "description": "No live sidebar link with this id on this account"},
                    },
                }
            },
            "/clicks/{click_id}/restore": {
                "post": {
                    "summary": "Vouch for a marked click: its score counts as if the customer had confirmed it.",
                    "parameters": [_param("click_id", "The click's id.", ID, "path", required=True)],
                    "responses": {
                        "200": _json("Counted", {"type": "object"}),
                        "401": UNAUTHORIZED,
                        "404": {**ERROR, "description": "No click with this id on this account's surveys"},
                    },
                }
            },
            "/webhooks": {
                **_get(
                    "The account's outbound webhooks, removed ones included (active false); never their secrets.",
                    [],
                    _json("Webhooks", _list("webhooks", "Webhook")),
                ),
                "post": {
                    "summary": "Register a URL that receives every counted rating change as signed JSON.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["url"],
                                    "properties": {
                                        "url": {"type": "string", "format": "uri", "description": "http(s) only"},
                                        "secret": {
                                            "type": "string",
                                            "description": "Signing secret; generated (and answered once) if left out",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json("Registered", {"$ref": "#/components/schemas/NewWebhook"}),
                        "400": {**ERROR, "description": "No url, a URL that is not http(s), or a bad secret"},
                        "401": UNAUTHORIZED,
                        "415": {**ERROR, "description": "The body is not JSON"},
                    },
                },
            },
            "/webhooks/{webhook_id}": {
                "delete": {
                    "summary": "Stop sending to a URL (it stays listed as inactive, with its delivery log).",
                    "parameters": [WEBHOOK_ID],
                    "responses": {
                        "204": {"description": "Removed"},
                        "401": UNAUTHORIZED,
                        "404": {**ERROR, "description": "No webhook with this id on this account"},
                    },
                }
            },
            "/webhooks/{webhook_id}/deliveries": {
                "get": {
                    "summary": "The webhook's delivery log, newest first (at most 200).",
                    "parameters": [WEBHOOK_ID],
                    "responses": {
                        "200": _json("Deliveries", _list("deliveries", "WebhookDelivery")),
                        "401": UNAUTHORIZED,
                        "404": {**ERROR, "description": "No webhook with this id on this account"},
                    },
                }
            },
            "/webhook-deliveries/{delivery_id}/replay": {
                "post": {
                    "summary": "Send a failed delivery again (same body and X-OpenCSAT-Delivery) with fresh attempts.",
                    "parameters": [_param("delivery_id", "The delivery's id.", ID, "path", required=True)],
                    "responses": {
                        "202": _json("Queued", {"type": "object"}),
                        "401": UNAUTHORIZED,
                        "404": {**ERROR, "description": "No failed delivery with this id on an active webhook"},
                    },
                }
            },
            "/openapi.json": _get("This document.", [], _json("OpenAPI 3.1", {"type": "object"}), public=True),
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "The account's API key"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["error", "message"],
                },
                "Rating": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "ticket_id": {"type": "string"},
                        "agent_email": {"type": ["string", "null"]},
                        "scale": {"type": "string", "enum": list(SCALES)},
                        "score": {"type": "integer"},
                        "comment": {"type": "string"},
                        "status": {"type": "string", "enum": list(RATING_STATUSES)},
                        "reasons": {"type": "array", "items": {"type": "string"}},
                        "created_at": {"type": "string", "format": "date-time"},
                        "updated_at": {"type": "string", "format": "date-time"},
                        "channel": {"type": "string", "enum": list(CHANNELS)},
                    },
                },
                "Channel": {
                    "type": "object",
                    "properties": {
                        "channel": {"type": "string", "enum": list(CHANNELS)},
                        "surveys_sent": {"type": "integer"},
                        "responses": {"type": "integer"},
                        "response_rate": {"type": ["number", "null"]},
                    },
                },
                "Survey": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "ticket_id": {"type": "string"},
                        "channel": {"type": "string", "enum": list(CHANNELS)},
                        "status": {"type": "string", "enum": list(SURVEY_STATUSES)},
                        "reason": {
                            "type": ["string", "null"],
                            "description": "Why skipped or failed; while retrying, the last attempt's error",
                        },
                        "attempts": {"type": "integer"},
                        "scheduled_at": {"type": "string", "format": "date-time"},
                        "sent_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "Agent": {
                    "type": "object",
                    "properties": {
                        "email": {"type": ["string", "null"]},
                        "responses": {"type": "integer"},
                        "surveys_sent": {"type": "integer"},
                        "response_rate": NUMBER,
                        "csat": NUMBER,
                        "csat_lower_bound": NUMBER,
                    },
                },
                "Team": {
                    "allOf": [
                        FIGURES,
                        {
                            "type": "object",
                            "properties": {"team": {"type": ["string", "null"]}, "rank": {"type": ["integer", "null"]}},
                        },
                    ]
                },
                "Summary": {
                    "type": "object",
                    "properties": {
                        "filters": {"type": "object", "additionalProperties": {"type": "string"}},
                        "bucket": {"type": "string", "enum": list(BUCKETS)},
                        "totals": FIGURES,
                        "over_time": {
                            "type": "array",
                            "items": {
                                "allOf": [FIGURES, {"properties": {"period": {"type": "string", "format": "date"}}}]
                            },
                        },
                        "distribution": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "scale": {"type": "string"},
                                    "points": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "score": {"type": "integer"},
                                                "label": {"type": "string"},
                                                "satisfied": {"type": "boolean"},
                                                "count": {"type": "integer"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                        "reasons": {
                            "type": "array",
                            "description": "Reason tags customers picked for negative answers, most picked first.",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "reason": {"type": "string"},
                                    "count": {"type": "integer"},
                                    "agents": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "agent_email": {"type": ["string", "null"]},
                                                "count": {"type": "integer"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "WriteBack": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "ticket_id": {"type": "string"},
                        "version": {"type": "integer"},
                        "status": {"type": "string"},
                        "attempts": {"type": "integer"},
                        "next_attempt_at": {"type": "string", "format": "date-time"},
                        "last_error": {"type": ["string", "null"]},
                        "delivered_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "Webhook": WEBHOOK,
                "NewWebhook": {
                    "allOf": [
                        WEBHOOK,
                        {
                            "type": "object",
                            "properties": {
                                "signature_header": {"type": "string", "const": "X-OpenCSAT-Signature"},
                                "secret": {"type": "string", "description": "Only when generated; shown once"},
                            },
                        },
                    ]
                },
                "WebhookDelivery": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "webhook_id": {"type": "integer"},
                        "rating_id": {"type": "integer"},
                        "version": {"type": "integer"},
                        "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
                        "attempts": {"type": "integer"},
                        "next_attempt_at": {"type": "string", "format": "date-time"},
                        "last_status_code": {"type": ["integer", "null"]},
                        "last_error": {"type": ["string", "null"]},
                        "delivered_at": {"type": ["string", "null"], "format": "date-time"},
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    }
