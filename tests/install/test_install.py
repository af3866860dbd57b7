"""The admin installing it: what `/` answers, what `make run` serves with, and which requirements each target installs.

Make targets that pip-install are read with `make -n -B` (print every command, run none), so the tests never touch
the virtual environment; the production server itself is started exactly as `make run` starts it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
DEV_TOOLS = ("pytest", "aiosmtpd", "hypothesis", "playwright", "ruff", "schemathesis", "bandit", "pip-audit")


def make_dry_run(target: str, **variables: str) -> list[str]:
    """The commands `make <target>` would run, as if every file were out of date."""
    assigned = [f"{name}={value}" for name, value in variables.items()]
    result = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", target, *assigned],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[re.sub(r"\[.*\]", "", name).strip().lower().replace("_", "-")] = version.strip()
    return found


def test_root_is_a_landing_page_linking_to_admin_and_health(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "OpenCSAT" in html and "survey" in html.lower()
    assert 'href="/admin/"' in html and 'href="/healthz"' in html
    assert client.head("/").status_code == 200


def test_runtime_requirements_hold_no_test_tool_and_dev_requirements_pin_them_as_installed():
    runtime, dev = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements-dev.txt")
    assert "gunicorn" in runtime
    assert not set(DEV_TOOLS) & set(runtime), "test and lint tools belong in requirements-dev.txt"
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    for name in DEV_TOOLS:
        assert name in dev, f"{name} is not pinned in requirements-dev.txt"
        assert dev[name] == metadata.version(name), (
            f"{name} is pinned at {dev[name]}, installed {metadata.version(name)}"
        )


def test_make_run_installs_only_the_runtime_requirements_and_serves_with_gunicorn():
    commands = make_dry_run("run")
    installs = [c for c in commands if "pip install" in c and " -r " in c]
    assert installs and all("requirements.txt" in c and "requirements-dev" not in c for c in installs)
    served = commands[-1]
    assert "gunicorn" in served and "--workers 1" in served
    assert not any(re.search(r"flask\S* .*\brun\b", c) for c in commands), "the development server is not used"


@pytest.mark.parametrize("target", ["test", "lint", "bench"])
def test_test_lint_and_bench_install_the_dev_requirements(target):
    installs = [c for c in make_dry_run(target) if "pip install" in c and " -r " in c]
    assert any("requirements-dev.txt" in c for c in installs), installs


def test_make_run_port_reaches_the_server():
    served = make_dry_run("run", PORT="5123")[-1]
    assert "127.0.0.1:5123" in served


@pytest.mark.skipif(
    os.environ.get("OPENCSAT_TEST_DATABASE", "sqlite") != "sqlite",
    reason="make run's embedded default is SQLite: the real server is started once, in the SQLite pass",
)
def test_the_server_make_run_starts_answers_without_a_development_server_warning(tmp_path):
    """`make run`'s last command, run for real on an ephemeral port with a fresh SQLite database."""
    served = make_dry_run("run", PORT="0")[-1]
    argv = shlex.split(served)
    argv[0] = str(Path(sys.executable).with_name("gunicorn"))
    database = f"sqlite:///{tmp_path / 'run.sqlite3'}"
    env = {**os.environ, "DATABASE_URL": database, "SECRET_KEY": "x" * 32, "REDIS_URL": ""}
    for name in ("SMTP_URL", "PORT", "PUBLIC_URL"):  # the port is in the command line; the app's own default stays
        env.pop(name, None)
    subprocess.run(
        [str(Path(sys.executable).with_name("flask")), "--app", "plugin", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline and server.poll() is None:
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
            url = found.group(1) if found else time.sleep(0.2)
        assert url, log.read_text()
        assert requests.get(f"{url}/", timeout=10).status_code == 200
        assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    output = log.read_text()
    assert "development server" not in output.lower(), output
    assert len(re.findall(r"Booting worker with pid", output)) == 1, output
