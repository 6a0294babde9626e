"""Joiners, leavers and manager changes from an HR export (CSV), as a plan file of a reference version.

The CSV's header (docs/plans.md, "Publishing plans"): ``employee_id`` (required) and any of ``name``,
``email``, ``role``, ``region``, ``manager_id``, ``start_date``, ``end_date``, ``hr_id``. Each row names one
participant: an id the plan files list is updated (a non-empty cell replaces that field: a leaver gets an
``end_date``, a manager change a new ``manager_id``; an empty cell keeps what the plan files say); any other id
is a joiner, who needs a ``name``, a ``role`` and a ``start_date``. The rows become ``hr/participants.yaml``
(``hr_participants:``, see :func:`attain.planfiles.with_hr_overrides`), so the version holds what HR said next
to the plan files, and applying the same export twice gives the same version.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import yaml

from attain.planfiles import HR_KEY

HR_FILE = "hr/participants.yaml"
COLUMNS = {  # CSV column -> participant field
    "employee_id": "id", "name": "name", "email": "email", "role": "role", "region": "region",
    "manager_id": "manager", "start_date": "start", "end_date": "end", "hr_id": "hr_id",
}
JOINER_NEEDS = ("name", "role", "start_date")


class HrExportError(ValueError):
    """Every bad row of an HR export, each as ``file:line: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Org:
    """What an HR export is checked against: the participants the plan files list and the roles plans assign."""

    participants: Mapping[str, Mapping[str, Any]]  # id -> the participant's fields as the files say
    roles: frozenset[str]


def org_of(data: Mapping[str, Any]) -> Org:
    """The :class:`Org` of a merged plan book (``attain.planfiles.load(...).data``): its participants, and the
    roles that some plan assigns or some participant has."""
    participants = {str(p["id"]): p for p in data.get("participants") or [] if isinstance(p, dict) and "id" in p}
    roles = {str(p["role"]) for p in participants.values() if p.get("role") is not None}
    for plan in data.get("plans") or []:
        assign = plan.get("assign") if isinstance(plan, dict) else None
        if isinstance(assign, dict) and assign.get("role") is not None:
            value = assign["role"]
            roles.update(str(v) for v in (value if isinstance(value, list) else [value]))
    return Org(participants, frozenset(roles))


def read_export(text: str, org: Org, name: str = "hr.csv") -> list[dict[str, Any]]:
    """The export's rows as participant entries (field -> value, only the cells given), in id order.

    Raises :class:`HrExportError` listing every problem with its line: a missing ``employee_id`` column, an
    unknown column, a duplicate id, a bad date, an end before the start, an unknown manager or role, a joiner
    without a name, role or start date.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [column.strip() for column in reader.fieldnames or []]
    problems: list[str] = []
    if "employee_id" not in header:
        raise HrExportError([f"{name}:1: no employee_id column (hint: the header names the columns: "
                             f"{', '.join(COLUMNS)})"])
    unknown = [column for column in header if column not in COLUMNS]
    if unknown:
        problems.append(f"{name}:1: unknown column(s) {', '.join(unknown)} (hint: known: {', '.join(COLUMNS)})")
    rows: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        cells = {key.strip(): (value or "").strip() for key, value in row.items() if isinstance(key, str)}
        if any(cells.values()):
            rows.append((reader.line_num, cells))
    ids = {cells["employee_id"] for _, cells in rows if cells.get("employee_id")}
    seen: dict[str, int] = {}
    entries = []
    for line, cells in rows:
        entry, row_problems = _entry(cells, org, ids, seen, line)
        problems.extend(f"{name}:{line}: {problem}" for problem in row_problems)
        if entry is not None:
            entries.append(entry)
    if problems:
        raise HrExportError(problems)
    return sorted(entries, key=lambda entry: str(entry["id"]))


def _entry(cells: Mapping[str, str], org: Org, ids: Iterable[str], seen: dict[str, int], line: int
           ) -> tuple[dict[str, Any] | None, list[str]]:
    problems = []
    employee = cells.get("employee_id", "")
    if not employee:
        return None, ["employee_id is empty (hint: every row names the employee)"]
    if employee in seen:
        problems.append(f"{employee} appears twice (hint: first at line {seen[employee]}; one row per employee)")
    seen.setdefault(employee, line)
    known = org.participants.get(employee)
    entry: dict[str, Any] = {"id": employee}
    for column, value in cells.items():
        if value and column in COLUMNS and column != "employee_id":
            entry[COLUMNS[column]] = value
    if known is None:
        missing = [column for column in JOINER_NEEDS if not cells.get(column)]
        if missing:
            problems.append(f"{employee} is not in the plan files, so is a joiner, and needs {', '.join(missing)}")
    for field in ("start", "end"):
        if field in entry:
            try:
                entry[field] = date.fromisoformat(entry[field])
            except ValueError:
                column = "start_date" if field == "start" else "end_date"
                problems.append(f"{column} {entry[field]!r} is not a date (hint: YYYY-MM-DD)")
                del entry[field]
    start = entry.get("start", _date_or_none(known.get("start")) if known else None)
    end = entry.get("end")
    if isinstance(start, date) and isinstance(end, date) and end < start:
        problems.append(f"{employee} ends on {end} before starting on {start}")
    manager = entry.get("manager")
    if manager is not None and manager not in org.participants and manager not in ids:
        problems.append(f"unknown manager {manager!r} (hint: a manager is in the plan files or in this export)")
    if manager == employee:
        problems.append(f"{employee} cannot be their own manager")
    role = entry.get("role")
    if role is not None and role not in org.roles:
        problems.append(f"unknown role {role!r} (hint: roles the plans assign: {', '.join(sorted(org.roles))})")
    if "email" in entry and "@" not in entry["email"]:
        problems.append(f"email {entry['email']!r} is not an address")
    return entry, problems


def _date_or_none(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value is not None else None
    except ValueError:
        return None


def to_yaml(entries: list[dict[str, Any]], source: str = "hr.csv") -> str:
    """The plan file of the export (``hr/participants.yaml``): one ``hr_participants`` entry per row."""
    body = yaml.safe_dump({HR_KEY: entries}, sort_keys=False, default_flow_style=None, width=120,
                          allow_unicode=True)
    return (f"# Written by `attain plans apply --hr-export {source}`: edit the HR export, not this file.\n"
            "# Each entry overrides the participant with its id (a new id is a joiner); see docs/plans.md.\n"
            + body)
