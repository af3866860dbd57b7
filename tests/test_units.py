"""Domain code without an app: signatures, tokens, secrets, settings, scales and metrics."""

from __future__ import annotations

import time

import pytest

from plugin import signing
from plugin.security import SecretBox, hash_api_key, new_api_key
from plugin.settings import Settings, SettingsError
from plugin.surveys.metrics import csat_percent, mean, nps, wilson_lower_bound
from plugin.surveys.scales import SCALES, get_scale
from plugin.tokens import InvalidToken, Tokens


class TestSigning:
    body = b'{"event_id":"1"}'

    def test_round_trip(self):
        signing.verify("s", signing.sign("s", self.body), self.body)

    def test_rotation_any_v1_may_match(self):
        good = signing.sign("s", self.body).split(",")[1]
        t = int(time.time())
        signing.verify("s", f"t={t},v1=deadbeef,{good}", self.body)

    @pytest.mark.parametrize("header", ["", "v1=abc", "t=abc,v1=abc", "t=1,v2=abc", "garbage"])
    def test_malformed_headers(self, header):
        with pytest.raises(signing.SignatureError):
            signing.verify("s", header, self.body)

    def test_known_vector(self):
        # printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert signing.sign("secret", b"{}", 1700000000) == (
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        )


class TestTokens:
    tokens = Tokens("k" * 32)

    def test_rating_round_trip(self):
        link = self.tokens.read_rating(self.tokens.rating(7, 3))
        assert (link.survey_id, link.score) == (7, 3)

    def test_another_key_cannot_read_it(self):
        with pytest.raises(InvalidToken):
            Tokens("x" * 32).read_rating(self.tokens.rating(7, 3))

    def test_purposes_do_not_mix(self):
        with pytest.raises(InvalidToken):
            self.tokens.read_rating(self.tokens.unsubscribe(7, "a@b.c"))

    def test_form_nonce_is_bound_to_its_survey(self):
        self.tokens.check_form_nonce(self.tokens.form_nonce(1), 1)
        with pytest.raises(InvalidToken):
            self.tokens.check_form_nonce(self.tokens.form_nonce(1), 2)


def test_secret_box_round_trip_and_wrong_key():
    box = SecretBox("a" * 32)
    sealed = box.encrypt("hunter2")
    assert "hunter2" not in sealed and box.decrypt(sealed) == "hunter2"
    with pytest.raises(ValueError, match="SECRET_KEY"):
        SecretBox("b" * 32).decrypt(sealed)


def test_api_keys_are_random_and_hashed():
    key = new_api_key()
    assert key != new_api_key() and len(hash_api_key(key)) == 64 and key not in hash_api_key(key)


class TestSettings:
    def test_defaults_are_embedded(self, tmp_path):
        settings = Settings.from_env({}, tmp_path)
        assert settings.database_url == f"sqlite:///{tmp_path / 'opencsat.sqlite3'}"
        assert settings.redis_url is None and settings.smtp_url is None
        assert settings.public_url == "http://127.0.0.1:5000"
        assert Settings.from_env({}, tmp_path).secret_key == settings.secret_key  # generated once, kept

    def test_postgres_urls_use_psycopg3(self, tmp_path):
        assert Settings.from_env({"DATABASE_URL": "postgres://u@h/db"}, tmp_path).database_url == (
            "postgresql+psycopg://u@h/db"
        )

    @pytest.mark.parametrize(
        "env, message",
        [
            ({"PORT": "http"}, "PORT must be a whole number"),
            ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with"),
            ({"SMTP_URL": "mail.example.com"}, "SMTP_URL must start with"),
            ({"SECRET_KEY": "x" * 31}, r"at least 32 characters .*secrets.token_urlsafe"),
            ({"SECRET_KEY": "x" * 32, "SECRET_KEY_FALLBACKS": "short"}, "SECRET_KEY_FALLBACKS must be at least 32"),
            ({"OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/8"}, "OUTBOUND_ALLOWED_NETWORKS: .127.0.0.1/8. is not a network"),
            ({"OUTBOUND_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, "OUTBOUND_ALLOWED_NETWORKS: .intranet."),
        ],
    )
    def test_junk_fails_with_a_sentence(self, tmp_path, env, message):
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env, tmp_path)


class TestScalesAndMetrics:
    def test_every_scale_from_the_design(self):
        shapes = {name: (s.scores[0], s.scores[-1], sorted(s.satisfied)) for name, s in SCALES.items()}
        assert shapes == {
            "csat5": (1, 5, [4, 5]),
            "csat3": (1, 3, [3]),
            "thumbs": (1, 2, [2]),
            "csat10": (1, 10, [9, 10]),
            "nps": (0, 10, [9, 10]),
            "ces7": (1, 7, [5, 6, 7]),
        }

    def test_tag_names_the_scale(self):
        assert get_scale("csat5").tag(4) == "csat_4_of_5"
        assert get_scale("nps").tag(0) == "nps_0_of_10"

    def test_unknown_scale(self):
        with pytest.raises(ValueError, match="choose one of"):
            get_scale("stars")

    def test_csat_boundaries(self):
        scale = get_scale("csat5")
        assert csat_percent([], scale) is None
        assert csat_percent([3], scale) == 0.0
        assert csat_percent([4], scale) == 100.0
        assert csat_percent([1, 2, 3, 4, 5], scale) == 40.0

    def test_nps_boundaries(self):
        assert nps([]) is None
        assert nps([6, 7, 8, 9]) == 0.0  # 6 detracts, 7-8 passive, 9 promotes
        assert nps([10, 10, 0]) == pytest.approx(100 / 3)
        assert nps([0]) == -100.0

    def test_mean(self):
        assert mean([]) is None and mean([1, 7]) == 4

    def test_wilson_lower_bound(self):
        assert wilson_lower_bound(0, 0) is None
        assert wilson_lower_bound(1, 1) == pytest.approx(20.65, abs=0.01)
        assert wilson_lower_bound(90, 100) == pytest.approx(82.56, abs=0.01)
        assert wilson_lower_bound(1, 1) < wilson_lower_bound(90, 100)  # one lucky rating does not top the list
