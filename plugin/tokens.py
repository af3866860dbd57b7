"""Signed tokens in links: rating links bound to (survey, score), unsubscribe links, form nonces, signature agents.

A token is a signed payload (itsdangerous, HMAC-SHA1) under a key of its own purpose, derived from SECRET_KEY with
HKDF (plugin.keys); nobody can make one for another survey or score without the key, and any change to it fails the
check. Earlier roots (SECRET_KEY_FALLBACKS) still read, and so do links signed with the root itself before keys
were derived per purpose: they are in customers' mailboxes.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

from plugin.keys import KeyRing


class InvalidToken(Exception):
    """The token was not made by us, was altered, or is for another purpose."""


@dataclass(frozen=True)
class RatingLink:
    survey_id: int
    score: int


class Tokens:
    """Makes and reads every token the service puts in a URL or a form."""

    FORM_MAX_AGE_SECONDS = 24 * 3600

    def __init__(self, keys: KeyRing | str) -> None:
        keys = keys if isinstance(keys, KeyRing) else KeyRing(keys)

        def signer(kind, purpose: str):
            return kind(keys.signing_keys(f"token {purpose}", legacy_roots=True), salt=purpose)

        self._rating = signer(URLSafeSerializer, "rating-link")
        self._unsubscribe = signer(URLSafeSerializer, "unsubscribe")
        self._form = signer(URLSafeTimedSerializer, "rating-form")
        self._agent = signer(URLSafeSerializer, "signature-agent")

    def rating(self, survey_id: int, score: int) -> str:
        return self._rating.dumps([survey_id, score])

    def read_rating(self, token: str) -> RatingLink:
        payload = _loads(self._rating, token)
        if not (isinstance(payload, list) and len(payload) == 2 and all(type(x) is int for x in payload)):
            raise InvalidToken("malformed rating token")
        return RatingLink(*payload)

    def unsubscribe(self, account_id: int, email: str) -> str:
        return self._unsubscribe.dumps([account_id, email.lower()])

    def read_unsubscribe(self, token: str) -> tuple[int, str]:
        payload = _loads(self._unsubscribe, token)
        if not (isinstance(payload, list) and len(payload) == 2):
            raise InvalidToken("malformed unsubscribe token")
        return int(payload[0]), str(payload[1])

    def signature_agent(self, account_id: int, agent_email: str) -> str:
        """The agent part of a signature link: nobody can rate as another agent or for another account."""
        return self._agent.dumps([account_id, agent_email.strip().lower()])

    def read_signature_agent(self, token: str) -> tuple[int, str]:
        payload = _loads(self._agent, token)
        if not (
            isinstance(payload, list)
            and len(payload) == 2
            and type(payload[0]) is int
            and isinstance(payload[1], str)
            and "@" in payload[1]
        ):
            raise InvalidToken("malformed signature token")
        return payload[0], payload[1]

    def form_nonce(self, survey_id: int) -> str:
        """The CSRF nonce of a rating page: proves a POST comes from a page we rendered for this survey."""
        return self._form.dumps(survey_id)

    def check_form_nonce(self, nonce: str, survey_id: int) -> None:
        try:
            value = self._form.loads(nonce, max_age=self.FORM_MAX_AGE_SECONDS)
        except BadSignature:
            raise InvalidToken("the form has expired or was not made by us") from None
        if value != survey_id:
            raise InvalidToken("the form belongs to another survey")


def _loads(serializer: URLSafeSerializer, token: str) -> object:
    try:
        return serializer.loads(token)
    except BadSignature:
        raise InvalidToken("bad signature") from None
