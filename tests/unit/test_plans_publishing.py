"""Publishing plans without a broker: the version of a set of files, the HR export (CSV) and its errors, the
diff of pay between two books, and the argument errors of `attain plans apply|diff` (docs/plans.md,
"Publishing plans: versions, rollback, diff, HR export")."""

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from attain import hr_export, plan_diff
from attain.contracts.reference import ReferenceVersion
from attain.planfiles import load_book_texts, load_texts, read_files, validate
from cli.main import main
from cli.plans import build_version

EXAMPLES = Path("examples/apac")
BOOK = [EXAMPLES / name for name in ("measures.yaml", "org.yaml", "plans-ae.yaml", "plans-other.yaml")]

SMALL_BOOK = """\
plans:
  - id: ae
    currency: INR
    period: quarter
    components:
      - {{id: commission, measure: closed_won_amount, rate: {rate}}}
participants:
  - {{id: rep-1, name: Asha Rao, plan: ae}}
  - {{id: rep-2, name: Vikram Shah, plan: ae}}
"""


def won_deal(record_id, owner, amount, day):
    return json.dumps({"event_id": f"{record_id}-0", "record_id": record_id, "object_type": "Opportunity",
                       "change_type": "CREATE", "commit_timestamp": f"{day}T10:00:00+00:00", "commit_number": 0,
                       "fields": {"owner_id": owner, "amount": amount, "currency": "INR", "stage": "Closed Won",
                                  "is_won": True, "close_date": day}})


def run(capsys, *argv):
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    captured = capsys.readouterr()
    return done.value.code, captured.out, captured.err


# -- versions ------------------------------------------------------------------------------------------------


def test_the_same_files_are_the_same_version_and_one_changed_byte_is_another(tmp_path):
    first = build_version(BOOK, "admin")
    again = ReferenceVersion.of_files(read_files([EXAMPLES]), "someone else")  # the folder: same names, same texts
    assert first.version_id == again.version_id == "rv-" + first.content_hash[:16]
    assert sorted(first.file_map) == ["measures.yaml", "org.yaml", "plans-ae.yaml", "plans-other.yaml"]
    copy = tmp_path / "book"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("*.jsonl", "*.md"))
    org = copy / "org.yaml"
    org.write_text(org.read_text().replace("quota: 600000,", "quota: 600001,"))
    changed = build_version([copy], "admin")
    assert changed.version_id != first.version_id
    assert {name for name in first.file_map if first.file_map[name] != changed.file_map[name]} == {"org.yaml"}


def test_an_invalid_book_is_a_usage_error_with_file_and_line_and_the_broker_is_never_asked(tmp_path, capsys):
    bad = tmp_path / "plans.yaml"
    bad.write_text(SMALL_BOOK.format(rate="0.05").replace("plan: ae}\n", "plan: nope}\n", 1))
    code, out, err = run(capsys, "plans", "apply", str(bad), "--user", "u", "--reason", "r",
                         "--bootstrap", "127.0.0.1:1")
    assert code == 2 and out == ""
    assert f"{bad}:8: participants[0].plan: no plan 'nope'" in err
    assert "1 problem(s) (listed above): nothing published" in err


# -- HR export -----------------------------------------------------------------------------------------------


def org():
    located = load_texts({path.name: path.read_text() for path in BOOK})
    return hr_export.org_of(located.data)


def test_an_hr_export_maps_its_columns_to_participant_fields_and_keeps_only_the_cells_given(tmp_path):
    csv_file = tmp_path / "hr.csv"
    csv_file.write_text(
        "employee_id,name,email,role,region,manager_id,start_date,end_date\n"
        "ae-sg-03,Nur Aisyah,nur@example.com,AE,SG,mgr-sea,2026-02-01,\n"  # joiner
        "ae-au-02,,,,,,,2026-02-28\n"                                      # leaver
        "ae-in-04,,,,,mgr-apac,,\n")                                       # manager change
    hr_only = hr_export.read_export(csv_file.read_text(), org(), "hr.csv")
    assert hr_only == [
        {"id": "ae-au-02", "end": date(2026, 2, 28)},
        {"id": "ae-in-04", "manager": "mgr-apac"},
        {"id": "ae-sg-03", "name": "Nur Aisyah", "email": "nur@example.com", "role": "AE", "region": "SG",
         "manager": "mgr-sea", "start": date(2026, 2, 1)}]


def test_hr_rows_become_participants_with_their_quotas_and_plans_kept(tmp_path):
    csv_file = tmp_path / "hr.csv"
    csv_file.write_text(
        "employee_id,name,role,region,manager_id,start_date,end_date\n"
        "sdr-apac-03,Hana Lim,SDR,SG,mgr-sea,2026-02-01,\n"  # joiner: the SDR plan needs no quota
        "ae-au-02,,,,,,2026-02-28\n"                          # leaver
        "ae-in-04,,,,mgr-apac,,\n")                           # manager change (replaces the dated managers)
    version = build_version(BOOK, "hr-bot", csv_file)
    assert version.file_map["hr/participants.yaml"].startswith("# Written by `attain plans apply --hr-export hr.csv`")
    book = load_book_texts(version.file_map)
    joiner, leaver, moved = (book.participants[i] for i in ("sdr-apac-03", "ae-au-02", "ae-in-04"))
    assert (joiner.name, joiner.attributes["role"], joiner.attributes["region"], joiner.start, joiner.managers) == (
        "Hana Lim", "SDR", "SG", date(2026, 2, 1), (("mgr-sea", date.min, date.max),))
    assert [plan.plan_id for _, _, plan in book.timelines["sdr-apac-03"]] == ["sdr-apac"]
    assert (leaver.end, leaver.quotas["default"]["*"]) == (date(2026, 2, 28), Decimal(650000))
    assert (moved.managers, moved.start, moved.quotas["default"]["*"]) == (
        (("mgr-apac", date.min, date.max),), date(2026, 2, 16), Decimal(55000000))
    assert len(book.participants) == 20  # 19 in org.yaml and the joiner
    assert build_version(BOOK, "someone", csv_file).version_id == version.version_id  # same export, same version


def test_every_bad_row_of_an_hr_export_is_reported_with_its_line():
    text = ("employee_id,name,role,region,manager_id,start_date,end_date,shoe_size\n"
            "ae-x-1,Ann,AE,SG,mgr-nobody,2026-02-01,,\n"   # 2: unknown manager
            "ae-x-2,Bo,Astronaut,SG,mgr-sea,2026-02-01,,\n"  # 3: unknown role
            "ae-au-01,,,,,2026-03-01,2026-02-01,\n"        # 4: ends before it starts
            "ae-au-01,,,,,,,\n"                            # 5: the same employee again
            "ae-x-3,Cy,AE,SG,mgr-sea,2026-02-30,,\n"       # 6: no such date
            "ae-x-4,,AE,SG,mgr-sea,,,\n"                    # 7: a joiner without a name and start
            ",,,,,,,\n")                                     # blank rows are skipped
    with pytest.raises(hr_export.HrExportError) as failed:
        hr_export.read_export(text, org(), "hr.csv")
    assert failed.value.problems == [
        "hr.csv:1: unknown column(s) shoe_size (hint: known: employee_id, name, email, role, region, manager_id, "
        "start_date, end_date, hr_id)",
        "hr.csv:2: unknown manager 'mgr-nobody' (hint: a manager is in the plan files or in this export)",
        f"hr.csv:3: unknown role 'Astronaut' (hint: roles the plans assign: {', '.join(sorted(org().roles))})",
        "hr.csv:4: ae-au-01 ends on 2026-02-01 before starting on 2026-03-01",
        "hr.csv:5: ae-au-01 appears twice (hint: first at line 4; one row per employee)",
        "hr.csv:6: start_date '2026-02-30' is not a date (hint: YYYY-MM-DD)",
        "hr.csv:7: ae-x-4 is not in the plan files, so is a joiner, and needs name, start_date"]


def test_an_hr_export_without_employee_ids_and_a_bad_export_on_the_command_line(tmp_path, capsys):
    with pytest.raises(hr_export.HrExportError) as failed:
        hr_export.read_export("id,name\nx,y\n", org())
    assert failed.value.problems[0].startswith("hr.csv:1: no employee_id column")
    csv_file = tmp_path / "leavers.csv"
    csv_file.write_text("employee_id,end_date\nae-au-02,2026-13-01\n")
    code, out, err = run(capsys, "plans", "apply", *map(str, BOOK), "--hr-export", str(csv_file), "--user", "u",
                         "--reason", "r", "--bootstrap", "127.0.0.1:1")
    assert code == 2 and "nothing published" in err
    assert f"{csv_file}:2: end_date '2026-13-01' is not a date" in err


def test_a_joiner_the_book_cannot_pay_is_refused_at_the_generated_files_line(tmp_path, capsys):
    csv_file = tmp_path / "hr.csv"
    csv_file.write_text("employee_id,name,role,region,manager_id,start_date\n"
                        "ae-sg-03,Nur Aisyah,AE,SG,mgr-sea,2026-02-01\n")  # the SG AE plan is tiered: needs a quota
    code, _, err = run(capsys, "plans", "apply", *map(str, BOOK), "--hr-export", str(csv_file), "--user", "u",
                       "--reason", "r", "--dry-run")
    assert code == 2
    assert "hr/participants.yaml:4: participants[19]: " in err and "ae-sg-03" in err and "quota" in err


# -- diff ----------------------------------------------------------------------------------------------------


def test_a_rate_from_5_to_6_percent_on_a_100000_deal_pays_1000_more(tmp_path, capsys):
    (tmp_path / "old.yaml").write_text(SMALL_BOOK.format(rate="0.05"))
    (tmp_path / "new.yaml").write_text(SMALL_BOOK.format(rate="0.06"))
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([won_deal("o1", "rep-1", "100000", "2026-02-10"),
                                 won_deal("o2", "rep-2", "250000.50", "2026-05-05")]) + "\n")
    code, out, _ = run(capsys, "plans", "diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"),
                       "--events", str(events), "--format", "json")
    assert code == 0
    data = json.loads(out)
    # rep-1: 100,000 x 5% = 5,000 -> x 6% = 6,000: +1,000. rep-2: 250,000.50 x 5% = 12,500.025 -> 12,500.03
    # (half-up) and x 6% = 15,000.03: +2,500.00. Totals 17,500.03 -> 21,000.03: +3,500.00.
    assert [(c["rep_id"], c["period"], c["old_earned"], c["new_earned"], c["delta"]) for c in data["changes"]] == [
        ("rep-1", "2026-Q1", "5000.00", "6000.00", "1000.00"),
        ("rep-2", "2026-Q2", "12500.03", "15000.03", "2500.00")]
    assert data["totals"] == [{"currency": "INR", "old_earned": "17500.03", "new_earned": "21000.03",
                               "delta": "3500.00"}]
    code, out, _ = run(capsys, "plans", "diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"),
                       "--events", str(events), "--period", "2026-Q1", "--format", "csv")
    assert out.splitlines() == ["rep_id,name,period,currency,old_earned,new_earned,delta",
                                "rep-1,Asha Rao,2026-Q1,INR,5000.00,6000.00,1000.00",
                                "TOTAL,,,INR,5000.00,6000.00,1000.00"]


def test_the_diff_table_groups_amounts_and_an_unchanged_book_changes_nobody(tmp_path, capsys):
    old = load_book_texts({"p.yaml": SMALL_BOOK.format(rate="0.05")})
    new = load_book_texts({"p.yaml": SMALL_BOOK.format(rate="0.06")})
    from attain.simulate import read_changes

    events = tmp_path / "events.jsonl"
    events.write_text(won_deal("o1", "rep-1", "12345678", "2026-02-10") + "\n")
    rows = plan_diff.diff(old, new, read_changes(events))
    # 12,345,678 x 1% = 123,456.78 more
    assert plan_diff.table_rows(rows, "en-IN") == [
        ["rep-1", "Asha Rao", "2026-Q1", "INR", "6,17,283.90", "7,40,740.68", "+1,23,456.78"],
        ["TOTAL", "", "", "INR", "6,17,283.90", "7,40,740.68", "+1,23,456.78"]]
    assert plan_diff.diff(old, old, read_changes(events)) == []
    (tmp_path / "p.yaml").write_text(SMALL_BOOK.format(rate="0.05"))
    code, out, _ = run(capsys, "plans", "diff", str(tmp_path / "p.yaml"), str(tmp_path / "p.yaml"),
                       "--events", str(events))
    assert code == 0 and "no rep's pay changes" in out


# -- argument errors -----------------------------------------------------------------------------------------


def test_apply_needs_a_user_and_a_reason(capsys):
    code, _, err = run(capsys, "plans", "apply", "examples/apac", "--reason", "r")
    assert code == 2 and "--user" in err
    code, _, err = run(capsys, "plans", "rollback", "--user", "u")
    assert code == 2 and "--reason" in err


def test_missing_files_and_bad_periods_are_usage_errors(tmp_path, capsys):
    code, _, err = run(capsys, "plans", "apply", "no/such/dir", "--user", "u", "--reason", "r")
    assert (code, err.strip()) == (2, "attain: error: no/such/dir: no such file or directory; check the path")
    code, _, err = run(capsys, "plans", "apply", str(tmp_path), "--user", "u", "--reason", "r")
    assert (code, err.strip()) == (2, f"attain: error: no plan files (*.yaml, *.yml) in {tmp_path}: nothing published; "
                                      "name the plan book's files or folder")
    code, _, err = run(capsys, "plans", "diff", "examples/apac", "examples/apac", "--events", "no/such.jsonl")
    assert code == 2 and "no/such.jsonl: no such file" in err
    code, _, err = run(capsys, "plans", "diff", "examples/apac", "examples/apac", "--events",
                       "examples/apac/events.jsonl", "--period", "2026-Q5")
    assert code == 2 and "bad period" in err


def test_an_unreachable_broker_is_one_line_naming_the_bootstrap(capsys):
    for argv in (["plans", "versions"], ["plans", "show", "current"],
                 ["plans", "diff", "current", "examples/apac", "--events", "examples/apac/events.jsonl"],
                 ["plans", "apply", "examples/apac", "--user", "u", "--reason", "r"]):
        code, _, err = run(capsys, *argv, "--bootstrap", "127.0.0.1:1", "--timeout", "1")
        assert code == 1, argv
        assert err.splitlines()[-1].startswith("attain: error: cannot reach the Kafka broker at 127.0.0.1:1"), argv


def test_validation_of_the_shipped_book_still_passes():
    assert validate(BOOK) == []
