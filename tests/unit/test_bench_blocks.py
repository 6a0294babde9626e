"""docs/benchmarks.md: each bench rewrites its own generated block, with where its figures came from."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import blocks  # noqa: E402

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def test_a_block_is_replaced_in_place_and_the_rest_of_the_document_kept(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nprose before\n\n" + blocks.render("a", "| old | 1 |") + "\n\nprose after\n\n"
                   + blocks.render("b", "| other | 2 |") + "\n")
    blocks.write_block("a", "| new | 3 |", command="bench/x.py --n 3", document=doc)
    text = doc.read_text()
    assert "| old | 1 |" not in text and "| new | 3 |" in text
    assert text.index("prose before") < text.index("| new | 3 |") < text.index("prose after")
    assert "| other | 2 |" in text and text.count("<!-- bench:a begin") == 1
    blocks.write_block("c", "| fresh | 4 |", document=doc)  # a block not there yet is appended
    assert doc.read_text().rstrip().endswith(blocks.end_marker("c"))


def test_every_block_says_its_commit_date_command_and_machine(tmp_path):
    doc = tmp_path / "benchmarks.md"
    blocks.write_block("a", "| x | 1 |", command="bench/x.py", document=doc)
    (line,) = [line for line in doc.read_text().splitlines() if line.startswith("Commit ")]
    assert re.match(r"Commit `[0-9a-f]{4,}(-dirty)?`, \d{4}-\d\d-\d\d \d\d:\d\d UTC, command `bench/x.py`; "
                    r"machine: \d+ cores, .+\.$", line), line


def test_every_table_of_figures_in_the_document_is_inside_a_block():
    """Tables of targets (thresholds, not measurements) are the one exception."""
    inside, header, outside = None, "", []
    for number, line in enumerate(DOCUMENT.read_text().splitlines(), 1):
        header = (header or line) if line.startswith("|") else ""
        if match := re.match(r"<!-- bench:([\w-]+) (begin|end)", line):
            inside = match.group(1) if match.group(2) == "begin" else None
        elif line.startswith("|") and re.search(r"\d", line) and inside is None and not header.startswith("| target |"):
            outside.append(number)
    assert not outside, f"docs/benchmarks.md lines {outside}: figures outside a generated or archived block"


def test_every_block_in_the_document_names_its_commit_or_says_it_has_not_run():
    text = DOCUMENT.read_text()
    bodies = re.findall(r"<!-- bench:([\w-]+) begin[^\n]*-->\n(.*?)<!-- bench:\1 end -->", text, re.S)
    assert bodies
    for name, body in bodies:
        assert re.search(r"[Cc]ommits? `?[0-9a-f]{7}", body) or "Not run yet" in body, name
