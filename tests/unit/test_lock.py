"""The hashed lock files in requirements/ (``make lock``) cover every dependency pyproject.toml names.

``make setup`` installs ``dev-lock.txt`` and ``build-lock.txt`` with ``--require-hashes``, the Dockerfile
``lock.txt`` and ``build-lock.txt``; a dependency added to pyproject.toml without ``make lock`` fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
ENVIRONMENT = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
               "platform_python_implementation": "CPython", "implementation_name": "cpython"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ; (.+?))? \\$")


def pins(text: str) -> dict[str, list[tuple[Version, str | None, int]]]:
    """name -> (version, marker, number of hashes) per pin (a name may be pinned once per marker)."""
    found: dict[str, list[tuple[Version, str | None, int]]] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = PIN.match(line)
        if match:
            hashes = 0
            for following in lines[index + 1:]:
                if not following.strip().startswith("--hash=sha256:"):
                    break
                hashes += 1
            found.setdefault(canonicalize_name(match[1]), []).append((Version(match[2]), match[3], hashes))
    return found


def uncovered(requirements: list[str], lock: str) -> list[str]:
    """The requirements the lock text does not pin (on Python 3.11 Linux) at a version they allow, with hashes."""
    locked = pins(lock)
    missing = []
    for requirement in map(Requirement, requirements):
        chosen = [(version, hashes) for version, marker, hashes in locked.get(canonicalize_name(requirement.name), [])
                  if marker is None or Requirement(f"x ; {marker}").marker.evaluate(ENVIRONMENT)]  # type: ignore
        if len(chosen) != 1 or chosen[0][0] not in requirement.specifier or chosen[0][1] == 0:
            missing.append(f"{requirement} (locked: {chosen})")
    return missing


def lock(name: str) -> str:
    return (REPO / "requirements" / name).read_text()


RUNTIME = PYPROJECT["project"]["dependencies"]
DEV = PYPROJECT["project"]["optional-dependencies"]["dev"]
BUILD = PYPROJECT["build-system"]["requires"]


@pytest.mark.parametrize(("lock_file", "requirements"), [
    ("lock.txt", RUNTIME), ("dev-lock.txt", RUNTIME + DEV), ("build-lock.txt", BUILD)])
def test_each_lock_pins_every_dependency_it_installs_with_hashes(lock_file, requirements):
    assert uncovered(requirements, lock(lock_file)) == []


def test_every_pin_carries_hashes_so_pip_can_require_them():
    for name in ("lock.txt", "dev-lock.txt", "build-lock.txt"):
        unhashed = [(package, pinned) for package, pinned in pins(lock(name)).items()
                    if any(hashes == 0 for _, _, hashes in pinned)]
        assert unhashed == [], name
        assert len(pins(lock(name))) >= len({Requirement(r).name for r in RUNTIME} if name == "lock.txt" else BUILD)


def test_the_image_runs_the_versions_the_tests_run_on():
    """lock.txt is the dev lock's runtime part; build-lock.txt takes the dev lock's version where both pin a
    package (make lock compiles both with ``--constraint dev-lock.txt``)."""
    dev = pins(lock("dev-lock.txt"))
    for name in ("lock.txt", "build-lock.txt"):
        differing = {package: pinned for package, pinned in pins(lock(name)).items()
                     if (package in dev or name == "lock.txt")
                     and {version for version, _, _ in pinned} != {version for version, _, _ in dev.get(package, [])}}
        assert differing == {}, name


def test_a_dependency_missing_from_the_lock_or_outside_its_range_is_caught():
    text = lock("lock.txt")
    assert uncovered(["left-pad-nowhere>=1"], text) == ["left-pad-nowhere>=1 (locked: [])"]
    pydantic = pins(text)["pydantic"][0][0]
    assert uncovered([f"pydantic>{pydantic}"], text)  # a newer floor than the pin
    unhashed = re.sub(r"(?m)^(pydantic==\S+) \\\n(    --hash=\S+(?: \\)?\n)+", r"\1 \\\n", text)
    assert unhashed != text and uncovered(["pydantic>=2"], unhashed)
