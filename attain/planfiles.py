"""Plan books as files: YAML with every value's file and line kept, for errors a person can act on.

Unquoted numbers are read as exact decimals (``0.05`` is ``Decimal('0.05')``,
never a float). Several files merge: top-level lists (plans, participants,
fx_rates) are concatenated, top-level mappings (measures, roles) are merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from attain.core.clawbacks import vanishing_credit_warnings
from attain.core.plan_parser import PlanError, Problem, parse_plan_book
from attain.core.plans import PlanBook

SUFFIXES = (".yaml", ".yml")
HR_KEY = "hr_participants"  # a file's participants from an HR export: each overrides the participant it names


@dataclass
class Located:
    """Merged data plus where each path came from: ``plans[3].components[0].rate`` -> (file, line)."""

    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # ``file:line: message`` of files that could not be read

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
    """Read and merge the YAML (or JSON) files, keeping the line of every value.

    A file that cannot be read or is not YAML is listed in ``unreadable`` (every such file, with its line) and
    the others are still merged.
    """
    located = Located()
    for path in plan_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            located.unreadable.append(f"{path}: cannot read the file: {error}")
            continue
        _read(located, text, str(path))
    return located


def load_text(text: str, name: str = "<text>") -> Located:
    """:func:`load` for YAML text (tests, the admin API)."""
    located = Located()
    _read(located, text, name)
    return located


def _read(located: Located, text: str, file: str) -> None:
    try:
        node = yaml.compose(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"{mark.line + 1}:" if mark is not None else ""
        what = " ".join(str(part) for part in (error.context, error.problem) if part)
        located.unreadable.append(f"{file}:{line} not valid YAML: {what} (hint: check the indentation and quoting "
                                  "on that line)")
        return
    except (yaml.YAMLError, ValueError) as error:  # bad characters, a bad escape in a quoted scalar
        located.unreadable.append(f"{file}: not valid YAML: {error}")
        return
    try:
        _merge(located, node, file)
    except RecursionError:  # an alias inside itself (&a [*a]) or absurd nesting
        located.unreadable.append(f"{file}: a value refers to itself or is nested too deeply (hint: check anchors "
                                  "and aliases)")


def _merge(located: Located, node: yaml.Node | None, file: str) -> None:
    if node is None:
        return
    if not isinstance(node, yaml.MappingNode):
        located.unreadable.append(f"{file}:{node.start_mark.line + 1}: a plan file is a mapping of plans:, "
                                  "participants:, ... (hint: see docs/plans.md)")
        return
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


def read_files(paths: Sequence[Path]) -> dict[str, str]:
    """The plan files named (directories read as in :func:`plan_files`) as ``{name: text}``, each named by its
    path relative to the directory it was found in (or its file name): what a reference version holds."""
    files: dict[str, str] = {}
    for path in paths:
        found = plan_files([path])
        for file in found:
            name = file.relative_to(path).as_posix() if path.is_dir() else file.name
            if name in files:
                raise PlanFilesError([f"{file}: a second file named {name} (hint: name each plan file once)"])
            files[name] = file.read_text(encoding="utf-8")
    return files


def load_texts(files: Mapping[str, str]) -> Located:
    """:func:`load` for files given as ``{name: text}`` (a reference version), merged in name order."""
    located = Located()
    for name in sorted(files):
        _read(located, files[name], name)
    return located


def load_book_texts(files: Mapping[str, str]) -> PlanBook:
    """:func:`load_book` for files given as ``{name: text}``."""
    return _parse(load_texts(files))


class PlanFilesError(PlanError):
    """A plan book in files that cannot be used: every problem, each as ``file:line: field: message (hint)``."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__([Problem("", message) for message in messages])
        self.messages = list(messages)


def load_book(paths: Sequence[Path]) -> PlanBook:
    """Load and parse a plan book; a :class:`PlanFilesError` lists every problem with its file and line."""
    return _parse(load(paths))


def _parse(located: Located) -> PlanBook:
    if located.unreadable:
        raise PlanFilesError(located.unreadable)
    located = with_hr_overrides(located)
    try:
        return parse_plan_book(located.data)
    except PlanError as error:
        raise PlanFilesError(_located(located, error)) from None


def validate(paths: Sequence[Path]) -> list[str]:
    """Every problem in the plan files as ``file:line: field: message (hint: ...)`` (empty when valid).

    Never raises for what the files say: a file that is not YAML, a date like 2026-13-01, a list where a
    mapping belongs are all problems in the list. When a file cannot be read at all, the others are not
    checked for meaning (a plan in the unreadable file would show up as missing), which the last line says.
    """
    return validate_located(load(paths))


def validate_located(located: Located) -> list[str]:
    """:func:`validate` for files already loaded (:func:`load`, :func:`load_text`)."""
    if located.unreadable:
        return [*located.unreadable, "(the plan book's meaning is checked once every file reads as YAML)"]
    located = with_hr_overrides(located)
    try:
        parse_plan_book(located.data)
    except PlanError as error:
        return _located(located, error)
    return []


def warnings(paths: Sequence[Path]) -> list[str]:
    """What valid plan files probably do not mean, as ``file:line: field: warning: message (hint: ...)``.

    Empty when the files have problems (:func:`validate` lists those). Today: a measure whose credits
    can vanish without a clawback (:func:`attain.core.clawbacks.vanishing_credit_warnings`).
    """
    located = load(paths)
    if located.unreadable:
        return []
    located = with_hr_overrides(located)
    try:
        book = parse_plan_book(located.data)
    except PlanError:
        return []
    lines = []
    for name, message, hint in vanishing_credit_warnings(book):
        path = f"measures.{name}"
        if path not in located.lines:  # a built-in measure: point at the first component paying on it
            path = next((f"plans[{i}].components[{j}].measure" for i, plan in enumerate(located.data.get("plans") or [])
                         if isinstance(plan, dict)
                         for j, component in enumerate(plan.get("components") or [])
                         if isinstance(component, dict) and component.get("measure") == name), path)
        where = located.locate(path)
        prefix = f"{where[0]}:{where[1]}: " if where else ""
        lines.append(f"{prefix}{path}: warning: {message} (hint: {hint})")
    return lines


def with_hr_overrides(located: Located) -> Located:
    """The book with its ``hr_participants`` (written from an HR export, :mod:`attain.hr_export`) applied.

    Each HR entry names a participant by ``id``: the fields it gives replace that participant's (a ``manager``
    replaces its ``manager``/``managers``; quotas, plans and the other fields stay), and an id no file lists is
    a joiner, added as a participant. Errors in the merged fields point at the HR file's lines. ``located`` is
    not changed.
    """
    entries = located.data.get(HR_KEY)
    if entries is None:
        return located
    data = {key: value for key, value in located.data.items() if key != HR_KEY}
    lines = {path: where for path, where in located.lines.items() if not path.startswith(HR_KEY)}
    if not isinstance(entries, list) or not isinstance(data.get("participants", []), list):
        data[HR_KEY] = entries  # the parser reports the unknown key where it is
        return Located(data, located.lines, located.unreadable)
    participants = [dict(p) if isinstance(p, dict) else p for p in data.get("participants") or []]
    index_of: dict[Any, int] = {p.get("id"): i for i, p in enumerate(participants) if isinstance(p, dict)}
    for number, entry in enumerate(entries):
        source = f"{HR_KEY}[{number}]"
        at = index_of.get(entry.get("id")) if isinstance(entry, dict) else None
        if at is None:  # a joiner (or not a mapping: the parser says so at the HR file's line)
            at = len(participants)
            participants.append(entry)
            if source in located.lines:
                lines[f"participants[{at}]"] = located.lines[source]
        else:
            if "manager" in entry:
                participants[at].pop("managers", None)
            participants[at].update(entry)
        target = f"participants[{at}]"
        lines.update({target + path[len(source):]: where for path, where in located.lines.items()
                      if path.startswith(source + ".") or path.startswith(source + "[")})
    data["participants"] = participants
    return Located(data, lines, located.unreadable)


def _located(located: Located, error: PlanError) -> list[str]:
    messages = []
    for problem in error.problems:
        where = located.locate(problem.path)
        prefix = f"{where[0]}:{where[1]}: " if where else ""
        messages.append(prefix + str(problem))
    return messages


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
    if tag.endswith(":float"):  # .inf, .nan and 1:30.5 are no money: kept as text, the parser says so
        try:
            number = Decimal(text.replace("_", ""))
        except InvalidOperation:
            return text
        return number if number.is_finite() else text
    if tag.endswith(":int"):
        for base in (10, 0):  # 0x1F, 0b101; 1:30 (a YAML 1.1 sexagesimal) stays text
            try:
                return int(text.replace("_", ""), base)
            except ValueError:
                continue
        return text
    if tag.endswith(":bool"):
        return text.lower() in ("true", "yes", "on")
    if tag.endswith(":null"):
        return None
    if tag.endswith(":timestamp"):
        try:
            parsed = yaml.safe_load(text)
        except ValueError:  # 2026-13-01 looks like a date to YAML but is none: the parser reports it with its line
            return text
        return parsed.date() if isinstance(parsed, datetime) else parsed if isinstance(parsed, date) else text
    return text
