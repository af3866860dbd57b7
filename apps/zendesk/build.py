"""Build the installable Zendesk app: `make zendesk-app PUBLIC_URL=https://csat.example.com`.

Takes the repository's manifest.json, points its ticket_sidebar location at PUBLIC_URL/sidebar/zendesk and its
domainWhitelist at PUBLIC_URL's host, and zips it with translations/en.json and the two logos, in the layout
`zcli apps:validate` / `zcli apps:package` expect (https://developer.zendesk.com/documentation/apps/
app-developer-guide/manifest/). Standard library only, so it runs without the virtualenv.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from make_assets import ASSETS, logo_png  # noqa: E402

FIXED_DATE = (2026, 1, 1, 0, 0, 0)  # the same inputs give the same zip, byte for byte


def manifest_for(public_url: str, *, allow_http: bool = False) -> dict:
    """The repository manifest with this deployment's public URL written in."""
    parts = urlsplit(public_url.rstrip("/"))
    if parts.scheme != "https" and not allow_http:
        raise SystemExit(f"PUBLIC_URL must be https:// (Zendesk loads the sidebar over TLS); got {public_url!r}")
    if not parts.hostname:
        raise SystemExit(f"PUBLIC_URL has no host: {public_url!r}")
    manifest = json.loads((ROOT / "manifest.json").read_text())
    base = public_url.rstrip("/")
    manifest["location"]["support"]["ticket_sidebar"]["url"] = f"{base}/sidebar/zendesk"
    manifest["domainWhitelist"] = [parts.netloc]
    return manifest


def build(public_url: str, out: Path, *, allow_http: bool = False) -> Path:
    """Write the zip to `out` and return it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    files = {
        "manifest.json": json.dumps(manifest_for(public_url, allow_http=allow_http), indent=2).encode() + b"\n",
        "translations/en.json": (HERE / "translations" / "en.json").read_bytes(),
        **{f"assets/{name}": logo_png(size) for name, size in ASSETS.items()},
    }
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, FIXED_DATE), data)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public-url", required=True, help="The https base of this OpenCSAT service.")
    parser.add_argument("--out", default=str(ROOT / "dist" / "opencsat-zendesk.zip"))
    parser.add_argument("--allow-http", action="store_true", help="For a local test install only.")
    args = parser.parse_args()
    path = build(args.public_url, Path(args.out), allow_http=args.allow_http)
    print(f"{path}: upload it in Admin Center > Apps and integrations > Zendesk Support apps > Upload private app")


if __name__ == "__main__":
    main()
