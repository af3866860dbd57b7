"""Debian's headless Chromium for browser tests: where it is, how to launch it, and a mark to skip without it.

The browser itself is the session-scoped `browser` fixture in tests/conftest.py, launched once with these arguments.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

requires_chromium = pytest.mark.skipif(
    shutil.which(str(CHROMIUM)) is None, reason=f"Debian's chromium is not installed at {CHROMIUM}"
)
