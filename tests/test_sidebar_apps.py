"""The helpdesk app packages: the Zendesk zip `make zendesk-app` builds, and the Freshworks 3.0 app folder."""

from __future__ import annotations

import json
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_make_zendesk_app_builds_an_installable_zip(tmp_path):
    out = tmp_path / "opencsat-zendesk.zip"
    subprocess.run(
        ["python3", "apps/zendesk/build.py", "--public-url", "https://csat.acme.test/", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert {"manifest.json", "translations/en.json", "assets/logo.png", "assets/logo-small.png"} <= names
        manifest = json.loads(archive.read("manifest.json"))
        translations = json.loads(archive.read("translations/en.json"))
        assert _png_size(archive.read("assets/logo.png")) == (320, 320)
        assert _png_size(archive.read("assets/logo-small.png")) == (128, 128)
    # What zcli apps:validate checks first: author name and email, default locale with its translation file,
    # a framework version, a location, and parameters the translations label.
    assert manifest["author"]["name"] and "@" in manifest["author"]["email"]
    assert manifest["defaultLocale"] == "en" and manifest["frameworkVersion"] == "2.0"
    assert manifest["location"]["support"]["ticket_sidebar"]["url"] == "https://csat.acme.test/sidebar/zendesk"
    assert manifest["domainWhitelist"] == ["csat.acme.test"]
    # Signed URLs: Zendesk POSTs the first page with an RS256 JWT; no secret is typed into the app's settings.
    assert manifest["signedUrls"] is True and manifest["parameters"] == []
    assert set(translations["app"]["parameters"]) == set()
    assert translations["app"]["name"] and translations["app"]["short_description"]


def test_zendesk_build_refuses_a_plain_http_url(tmp_path):
    result = subprocess.run(
        ["python3", "apps/zendesk/build.py", "--public-url", "http://csat.acme.test", "--out", str(tmp_path / "z")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "https://" in result.stderr


def test_repository_manifest_is_the_zendesk_v2_manifest():
    manifest = json.loads((ROOT / "manifest.json").read_text())
    assert manifest["location"]["support"]["ticket_sidebar"]["url"].endswith("/sidebar/zendesk")
    assert manifest["frameworkVersion"] == "2.0" and manifest["signedUrls"] is True


@pytest.fixture
def freshdesk():
    return ROOT / "apps" / "freshdesk"


def test_freshworks_app_is_platform_3(freshdesk):
    manifest = json.loads((freshdesk / "manifest.json").read_text())
    assert manifest["platform-version"] == "3.0"
    assert "common" in manifest["modules"]
    sidebar = manifest["modules"]["support_ticket"]["location"]["ticket_sidebar"]
    assert (freshdesk / "app" / sidebar["url"]).is_file() and (freshdesk / "app" / sidebar["icon"]).is_file()
    assert set(manifest["engines"]) == {"node", "fdk"}
    iparams = json.loads((freshdesk / "config" / "iparams.json").read_text())
    assert set(iparams) == {"service_url"}  # no account-wide token: each agent pastes their own link
    assert all(p["type"] == "text" and p["required"] for p in iparams.values())
    page = (freshdesk / "app" / "index.html").read_text()
    script = (freshdesk / "app" / "scripts" / "app.js").read_text()
    assert "{{{appclient}}}" in page and "/sidebar/freshdesk" in script and 'client.data.get("ticket")' in script
    assert 'id="setup"' in page and "localStorage" in script
