"""Rewrite the portal's screenshots in docs/img/ (shown in docs/portal.md): `make screenshots`.

Runs the browser tests that take them (the whole stack, embedded broker and PostgreSQL, Debian's chromium), with
their artefacts in a temporary folder, and copies the ones the docs show, each checked to stay under 150 KB."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.e2e.portal.browser.support import ARTIFACTS_ENV

HERE = Path(__file__).parent
DOCS = HERE.parents[3] / "docs" / "img"
KEPT = ("portal-phone-live-delta", "portal-desktop-rep-home", "portal-desktop-dispute", "portal-phone-what-if",
        "portal-phone-approved", "portal-phone-notified")
MAX_BYTES = 150 * 1024


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="attain-screenshots-") as folder:
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-q",
             "--basetemp", str(Path(folder) / "pytest"), str(HERE / "test_portal_browser.py"),
             str(HERE / "test_portal_browser_flows.py"), "-k", "live or statement or what_if or approves"],
            env={**os.environ, ARTIFACTS_ENV: folder}, check=False)
        if tests.returncode != 0:
            print("the browser tests failed: no screenshot was replaced", file=sys.stderr)
            return tests.returncode
        DOCS.mkdir(parents=True, exist_ok=True)
        for name in KEPT:
            taken = Path(folder) / "browser" / f"{name}.png"
            size = taken.stat().st_size
            if size > MAX_BYTES:
                print(f"{name}.png is {size} bytes, over {MAX_BYTES}: not copied", file=sys.stderr)
                return 1
            shutil.copyfile(taken, DOCS / taken.name)
            print(f"{DOCS / taken.name}: {size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
