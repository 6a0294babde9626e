"""`attain plans validate`: every error with file, line, field and a hint; non-zero exit."""

import pytest

from attain.planfiles import validate
from cli.main import main

BAD = """\
plans:
  - id: ae
    currency: INR
    effective_to: 2026-03-31
    assign: {role: AE}
    components:
      - id: commission
        measure: closed_wom_amount
        rate: 0.05
      - id: tiered
        measure: closed_won_amount
        tiers:
          table:
            - {from: 0, to: 1.0, rate: 0.05}
            - {from: 0.9, rate: 0.08}
  - id: ae
    version: 2
    currency: INR
    effective_from: 2026-05-01
    assign: {role: AE}
    components:
      - {id: c, measure: closed_won_amount, rate: 0.05, where: {amount: {bigger: 5}}}
  - id: other
    currency: SGD
    assign: {region: IN-North}
    components:
      - {id: c, measure: closed_won_amount, rate: 0.05}
deal_currencies: [INR]
participants:
  - {id: r1, role: AE, region: IN-North, quota: 100}
"""


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "plans.yaml"
    path.write_text(BAD)
    return path


def test_every_problem_is_reported_with_file_line_field_and_hint(bad_file):
    problems = validate([bad_file])
    expected = [
        ":8: plans[0].components[0].measure: 'closed_wom_amount' is not a known measure (hint: define it",
        ":13: plans[0].components[1].tiers.table: tier 2 starts at 0.9 but tier 1 ends at 1.0: tiers overlap",
        ":22: plans[1].components[0].where.amount.bigger: unknown operator 'bigger'",
        ":4: plans[0].effective_to: gap in effective dates: version 1 ends 2026-03-31, version 2 starts 2026-05-01",
        ":30: participants[0]: two plans for 'r1' from the start: ae, other",
        ":24: plans[2].currency: no FX path from deal currency INR to plan 'other' currency SGD",
    ]
    assert len(problems) == len(expected)
    for problem, fragment in zip(problems, expected, strict=True):
        assert problem.startswith(str(bad_file)) and fragment in problem, (problem, fragment)
        assert "(hint: " in problem


def test_validate_command_exits_non_zero_on_errors_and_zero_on_a_good_book(bad_file, capsys):
    with pytest.raises(SystemExit) as failed:
        main(["plans", "validate", str(bad_file)])
    assert failed.value.code == 1
    assert "6 problem(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as passed:
        main(["plans", "validate", "examples/demo/plans.yaml"])
    assert passed.value.code == 0


def test_unquoted_numbers_are_read_as_exact_decimals(tmp_path):
    from decimal import Decimal

    from attain.planfiles import load_text

    data = load_text("plans: [{id: a, rate: 0.1, big: 12345678901234567890.123}]").data
    assert data["plans"][0]["rate"] == Decimal("0.1")
    assert data["plans"][0]["big"] == Decimal("12345678901234567890.123")


def test_attainment_components_need_a_quota_for_everyone_on_the_plan():
    from attain.planfiles import load_text

    text = """\
plans:
  - id: ae
    currency: INR
    components:
      - {id: tiered, measure: closed_won_amount, tiers: {table: [{from: 0, rate: 0.05}]}}
      - {id: pipeline, measure: qualified_pipeline, quota: pipeline, rate: 0.01, gate: {min_attainment: 0.5}}
participants:
  - {id: r1, plan: ae, quota: 1000, quotas: {pipeline: 500}}
  - {id: r2, plan: ae}
"""
    from attain.core.plan_parser import PlanError, parse_plan_book

    with pytest.raises(PlanError) as raised:
        parse_plan_book(load_text(text).data)
    assert sorted(str(p).split(" (hint")[0] for p in raised.value.problems) == [
        "participants[1]: 'r2' has no 'quota', which plan 'ae' component 'tiered' measures attainment against",
        "participants[1]: 'r2' has no 'quotas.pipeline', which plan 'ae' component 'pipeline' measures attainment "
        "against",
    ]


def test_misspelt_fields_are_reported_with_the_field_they_probably_meant(tmp_path):
    path = tmp_path / "typos.yaml"
    path.write_text("""\
plans:
  - id: ae
    currency: INR
    target_incentve: 1000
    components:
      - id: c
        measure: closed_won_amount
        rate: 0.05
        gate: {min_atainment: 0.5}
participant:
  - {id: r1, plan: ae, quota: 100}
""")
    problems = validate([path])
    assert any(p.endswith(":4: plans[0].target_incentve: unknown field 'target_incentve' "
                          "(hint: did you mean 'target_incentive'?)") for p in problems), problems
    assert any(":9: plans[0].components[0].gate.min_atainment: unknown field" in p and "'min_attainment'" in p
               for p in problems), problems
    assert any(":10: participant: unknown field 'participant' (hint: did you mean 'participants'?)" in p
               for p in problems), problems
