"""Plan books as files: YAML with every value's file and line kept, for errors a person can act on.

Unquoted numbers are read as exact decimals (``0.05`` is ``Decimal('0.05')``,
never a float). Several files merge: top-level lists (plans, participants,
fx_rates) are concatenated, top-level mappings (measures, roles) are merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from attain.core.plan_parser import PlanError, Problem, parse_plan_book
from attain.core.plans import PlanBook

SUFFIXES = (".yaml", ".yml")


@dataclass
class Located:
    """Merged data plus where each path came from: ``plans[3].components[0].rate`` -> (file, line)."""

    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)

    def locate(self, path: str) -> tuple[str, int] | None:
        """The file and line of ``path`` or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


def plan_files(paths: Iterable[Path]) -> list[Path]:
    """The YAML files named, and those inside the directories named (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES))
        else:
            files.append(path)
    return files


def load(paths: Sequence[Path]) -> Located:
    """Read and merge the YAML files, keeping the line of every value."""
    located = Located()
    for path in plan_files(paths):
        with path.open() as stream:
            _merge(located, yaml.compose(stream), str(path))
    return located


def load_text(text: str, name: str = "<text>") -> Located:
    """:func:`load` for YAML text (tests, the admin API)."""
    located = Located()
    _merge(located, yaml.compose(text), name)
    return located


def _merge(located: Located, node: yaml.Node | None, file: str) -> None:
    if node is None:
        return
    if not isinstance(node, yaml.MappingNode):
        raise PlanError([Problem(file, "a plan file is a mapping of plans:, participants:, ...")])
    for key_node, value_node in node.value:
        key = str(key_node.value)
        value, lines = _build(value_node, key, file)
        existing = located.data.get(key)
        if isinstance(existing, list) and isinstance(value, list):
            offset = len(existing)
            existing.extend(value)
            lines = {_shift(p, key, offset): where for p, where in lines.items()}
        elif isinstance(existing, dict) and isinstance(value, dict):
            existing.update(value)
        else:
            located.data[key] = value
        lines.pop(key)
        located.lines.setdefault(key, (file, key_node.start_mark.line + 1))
        located.lines.update(lines)


def load_book(paths: Sequence[Path]) -> PlanBook:
    """Load and parse a plan book; a :class:`PlanError` keeps every problem (locate them with :func:`load`)."""
    return parse_plan_book(load(paths).data)


def validate(paths: Sequence[Path]) -> list[str]:
    """Every problem in the plan files as ``file:line: field: message (hint: ...)`` (empty when valid)."""
    try:
        located = load(paths)
    except yaml.YAMLError as error:
        return [f"{error}"]
    except PlanError as error:
        return [str(p) for p in error.problems]
    try:
        parse_plan_book(located.data)
    except PlanError as error:
        messages = []
        for problem in error.problems:
            where = located.locate(problem.path)
            prefix = f"{where[0]}:{where[1]}: " if where else ""
            messages.append(prefix + str(problem))
        return messages
    return []


def _shift(path: str, key: str, offset: int) -> str:
    if not path.startswith(key + "["):
        return path
    index_end = path.index("]")
    return f"{key}[{int(path[len(key) + 1:index_end]) + offset}]{path[index_end + 1:]}"


def _build(node: yaml.Node, path: str, file: str) -> tuple[Any, dict[str, tuple[str, int]]]:
    lines = {path: (file, node.start_mark.line + 1)}
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            value, child_lines = _build(value_node, f"{path}.{key}", file)
            mapping[key] = value
            lines.update(child_lines)
            lines[f"{path}.{key}"] = (file, key_node.start_mark.line + 1)
        return mapping, lines
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item_node in enumerate(node.value):
            value, child_lines = _build(item_node, f"{path}[{index}]", file)
            items.append(value)
            lines.update(child_lines)
        return items, lines
    return _scalar(node), lines


def _scalar(node: yaml.Node) -> Any:
    tag, text = node.tag, str(node.value)
    if tag.endswith(":float"):
        return Decimal(text.replace("_", ""))
    if tag.endswith(":int"):
        return int(text.replace("_", ""), 0) if text.startswith("0x") else int(text.replace("_", ""))
    if tag.endswith(":bool"):
        return text.lower() in ("true", "yes", "on")
    if tag.endswith(":null"):
        return None
    if tag.endswith(":timestamp"):
        parsed = yaml.safe_load(text)
        return parsed.date() if isinstance(parsed, datetime) else parsed if isinstance(parsed, date) else text
    return text
