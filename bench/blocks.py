"""Generated result blocks in ``docs/benchmarks.md``: every figure there comes from one.

A block is everything between ``<!-- bench:NAME begin -->`` and ``<!-- bench:NAME end -->``.
Each benchmark rewrites its own block with its tables and a provenance line: the commit it ran
at (``-dirty`` when the tree had changes), the date, the exact command and the machine. Prose
lives outside the blocks; a block not found is appended at the end of the document.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = REPO / "docs" / "benchmarks.md"


def begin_marker(name: str) -> str:
    return f"<!-- bench:{name} begin (generated: edit outside this block) -->"


def end_marker(name: str) -> str:
    return f"<!-- bench:{name} end -->"


def commit() -> str:
    """``git rev-parse --short HEAD``, with ``-dirty`` when tracked files differ from it (other than
    docs/benchmarks.md, which the benches themselves write)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/benchmarks.md")
    return f"{head}-dirty" if changed else head


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f", load average {os.getloadavg()[0]:.1f} at the start" if hasattr(os, "getloadavg") else ""
    return (f"{cores} cores, {cpu_model()}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}{load}")


def command_line() -> str:
    """How this process was started, as a shell command relative to the repository."""
    def rel(path: str) -> str:
        try:
            return os.path.relpath(path, REPO) if os.path.isabs(path) else path
        except ValueError:
            return path

    return " ".join(shlex.quote(part) for part in (rel(sys.executable), rel(sys.argv[0]), *sys.argv[1:]))


# Taken when the bench starts (it imports this module first): the commit and load it ran with.
_STARTED = (commit(), datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine())


def provenance(command: str | None = None) -> str:
    at, when, on = _STARTED
    return f"Commit `{at}`, {when}, command `{command or command_line()}`; machine: {on}."


def render(name: str, body: str, command: str | None = None) -> str:
    return "\n".join([begin_marker(name), "", provenance(command), "", body.strip(), "", end_marker(name)])


def write_block(name: str, body: str, command: str | None = None, document: Path = DOCUMENT) -> None:
    """Replace block ``name`` of ``document`` by ``body`` under a fresh provenance line."""
    block = render(name, body, command)
    text = document.read_text() if document.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(f"<!-- bench:{name} begin") + r".*?" + re.escape(end_marker(name)), re.S)
    text = pattern.sub(lambda _: block, text, count=1) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    document.write_text(text)
    print(f"results written to {document.relative_to(REPO) if document.is_relative_to(REPO) else document} "
          f"(block bench:{name})")


def markdown_table(header: tuple[str, ...], rows: list[tuple[object, ...]], align: str = "") -> str:
    """A Markdown table; ``align`` is one character per column, ``r`` for right-aligned."""
    rule = ["--:" if (align[i:i + 1] == "r") else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
