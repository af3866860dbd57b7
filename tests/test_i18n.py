"""Languages: the event's locale mapped to a catalogue, and the pages customers see speaking it."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import select

from plugin import i18n
from plugin.models import Survey
from plugin.services import services
from tests.conftest import BROWSER_HEADERS, outbox, rating_links


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        ("pt-BR", "pt"),
        ("pt_PT", "pt"),
        ("zh-TW", "zh_Hant"),
        ("zh-HK", "zh_Hant"),
        ("zh-Hant", "zh_Hant"),
        ("zh-Hant-TW", "zh_Hant"),
        ("zh_TW", "zh_Hant"),
        ("zh-CN", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("zh-Hans-SG", "zh_Hans"),
        ("nb", "nb"),
        ("no", "nb"),
        ("nn-NO", "nb"),
        ("de-AT", "de"),
        ("fr-CA", "fr"),
        ("es-419", "es"),
        ("el-GR", "el"),
        ("it", "it"),
        ("pl-PL", "pl"),
        ("ar-EG", "ar"),
    ],
)
def test_event_locales_map_to_catalogues(tag, expected):
    assert i18n.normalise(tag, "fr") == expected


@pytest.mark.parametrize("tag", [None, "", "xx", "tlh", "en US", "<script>", "de-" + "x" * 40])
def test_unknown_locales_fall_back_to_the_account_default_then_english(tag):
    assert i18n.normalise(tag, "de-CH") == "de"
    assert i18n.normalise(tag, "klingon") == "en"
    assert i18n.normalise(tag) == "en"


def test_accept_language_picks_the_best_supported_language():
    assert i18n.negotiate("da, nb;q=0.8, en;q=0.5") == "nb"
    assert i18n.negotiate("en;q=0.2, zh-TW;q=0.9") == "zh_Hant"
    assert i18n.negotiate("xx, *;q=0.1", fallback="el") == "el"
    assert i18n.negotiate("fr;q=0, de;q=0.5") == "de"
    assert i18n.negotiate(None) == "en"


def test_rtl_languages_get_dir_rtl():
    assert i18n.direction("ar") == "rtl" and i18n.direction("he") == "ltr" and i18n.direction("el") == "ltr"
    assert i18n.html_lang("zh_Hant") == "zh-Hant"


def test_a_compiled_catalogue_is_used_and_a_missing_one_is_compiled_from_the_po(tmp_path, monkeypatch):
    folder = tmp_path / "el" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes((i18n.TRANSLATIONS_DIR / "el" / "LC_MESSAGES" / "messages.po").read_bytes())
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", tmp_path)
    assert i18n.gettext("el", "Unsubscribe") == "Απεγγραφή"  # no .mo here: compiled in memory
    assert i18n.gettext("el", "not in the catalogue") == "not in the catalogue"


def _survey_in(helpdesk, locale: str):
    event = helpdesk.event(ticket_id=f"T-{locale}")
    event["requester"]["locale"] = locale
    helpdesk.post(event)
    helpdesk.run_jobs()
    return outbox(helpdesk.app)[-1]


def test_the_survey_stores_the_mapped_locale_and_the_email_speaks_it(helpdesk):
    message = _survey_in(helpdesk, "pt-BR")
    with services().db.session() as session:
        assert session.scalar(select(Survey.locale)) == "pt"
    assert str(message["Subject"]).startswith("Avalie nosso atendimento: ")
    assert "Sua solicitação foi resolvida." in message.get_body(("plain",)).get_content()


def test_the_rating_page_speaks_the_surveys_language(helpdesk, client, clock):
    message = _survey_in(helpdesk, "el")
    clock.advance(minutes=5)
    page = client.get(rating_links(message)[4].removeprefix("http://opencsat.test"), headers=BROWSER_HEADERS)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<html lang="el" dir="ltr">' in html
    assert "Ευχαριστούμε! Η αξιολόγησή σας: 5\u00a0– Πολύ καλή." in html  # the thank-you heading
    assert "Τι κάναμε καλά;" in html and "(προαιρετικά)" in html  # the follow-up question for a positive answer
    assert "Πολύ καλή" in html and "Πώς θα αξιολογούσατε την υποστήριξη που λάβατε;" in html
    assert 'name="score" value="5"' in html and 'id="opencsat-signal"' in html  # the form and beacon intact


def test_a_translators_edit_shows_on_the_next_rating_page_without_a_restart(
    helpdesk, client, clock, tmp_path, monkeypatch
):
    folder = tmp_path / "el" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po = (i18n.TRANSLATIONS_DIR / "el" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    (folder / "messages.po").write_text(po, encoding="utf-8")
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", tmp_path)
    monkeypatch.setattr(i18n, "RECHECK_SECONDS", 0.0)
    links = [link.removeprefix("http://opencsat.test") for link in rating_links(_survey_in(helpdesk, "el"))]
    clock.advance(minutes=5)
    html = client.get(links[4], headers=BROWSER_HEADERS).get_data(as_text=True)
    assert "(προαιρετικά)" in html and "<span>Πολύ καλή</span>" in html  # a literal, a scale label
    edited = po.replace('msgstr "(προαιρετικά)"', 'msgstr "(προαιρετικό, σύντομο)"')
    edited = edited.replace('msgstr "Πολύ καλή"', 'msgstr "Άριστη"')
    (folder / "messages.po").write_text(edited, encoding="utf-8")
    os.utime(folder / "messages.po", (time.time() + 5, time.time() + 5))  # newer than the copy, however fast
    html = client.get(links[4], headers=BROWSER_HEADERS).get_data(as_text=True)  # the same page, later
    assert "(προαιρετικό, σύντομο)" in html and "(προαιρετικά)" not in html
    assert "<span>Άριστη</span>" in html and "Πολύ καλή" not in html


def test_the_rating_page_is_right_to_left_in_arabic(helpdesk, client, clock):
    message = _survey_in(helpdesk, "ar")
    clock.advance(minutes=5)
    html = client.get(rating_links(message)[0].removeprefix("http://opencsat.test"), headers=BROWSER_HEADERS).get_data(
        as_text=True
    )
    assert '<html lang="ar" dir="rtl">' in html and "شكرًا لك" in html


def test_the_unsubscribe_page_speaks_the_emails_language(helpdesk, client):
    message = _survey_in(helpdesk, "de")
    url = message["List-Unsubscribe"].strip("<>").removeprefix("http://opencsat.test")
    assert url.endswith("?lang=de")
    html = client.get(url).get_data(as_text=True)
    assert "Von Zufriedenheitsumfragen abmelden?" in html and "lang=de" in html  # the form keeps the language
    done = client.post(url).get_data(as_text=True)
    assert "Sie sind abgemeldet" in done and "casey@customer.test erhält von uns keine" in done


def test_error_pages_speak_the_visitors_language(client):
    page = client.get("/r/WzEsNV0.tampered", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"})
    html = page.get_data(as_text=True)
    assert page.status_code == 404
    assert '<html lang="it"' in html and "Link non trovato" in html
    assert "Questo link di valutazione non è valido." in html
    assert "Page not found" not in html
    unknown = client.get("/no/such/page", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Lien introuvable" in unknown and "L&#39;URL demandée est introuvable" in unknown


def test_an_expired_survey_answers_in_its_own_language(helpdesk, client, clock):
    message = _survey_in(helpdesk, "es")
    clock.advance(days=31)
    page = client.get(rating_links(message)[0].removeprefix("http://opencsat.test"), headers=BROWSER_HEADERS)
    assert page.status_code == 410 and "Esta encuesta está cerrada" in page.get_data(as_text=True)
