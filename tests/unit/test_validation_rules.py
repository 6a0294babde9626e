"""`plans validate` cannot be fooled: quotas for every period, FX per plan, every problem at once, no tracebacks."""

import json
from datetime import date
from decimal import Decimal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attain.core.plan_parser import BOOK_FIELDS, COMPONENT_FIELDS, PLAN_FIELDS, PlanError, parse_plan_book
from attain.planfiles import PlanFilesError, load_book, load_text, validate, validate_located

QUARTERLY = """\
plans:
  - id: ae
    currency: INR
    period: quarter
    components:
      - {id: tiered, measure: closed_won_amount, tiers: {table: [{from: 0, rate: 0.05}]}}
participants:
"""


def problems_of(text: str) -> list[str]:
    return validate_located(load_text(text, "plans.yaml"))


def test_a_year_quota_on_a_quarterly_plan_fails_naming_participant_period_and_line():
    problems = problems_of(QUARTERLY + """\
  - id: r1
    plan: ae
    quotas:
      default: {"2026": 4000000}
""")
    assert len(problems) == 2, problems
    assert problems[0].startswith("plans.yaml:11: participants[0].quotas.default.2026: 'r1' quota 'default' for "
                                  "'2026' is never used: plan 'ae' measures by quarter"), problems
    assert "e.g. 2026-Q1" in problems[0]
    # and nothing else covers any quarter, so the component would find no quota at all
    assert problems[1].startswith("plans.yaml:11: participants[0].quotas.default: 'r1' has no 'quota' for any "
                                  "quarter, which plan 'ae' component tiered"), problems


def test_a_missing_quarter_for_one_participant_is_named_with_its_line():
    problems = problems_of(QUARTERLY + """\
  - {id: r1, plan: ae, quota: 1000}
  - id: r2
    plan: ae
    start: 2026-01-01
    end: 2026-12-31
    quotas:
      default:
        2026-Q1: 1000
        2026-Q2: 1000
        2026-Q4: 1000
""")
    assert problems == [
        "plans.yaml:14: participants[1].quotas.default: 'r2' has no 'quota' for 2026-Q3, which plan 'ae' component "
        "tiered measures attainment against (it would pay 0 there) (hint: add `2026-Q3:` under quota, or '*' for "
        "every period)"
    ]


def test_open_ended_quotas_are_checked_between_the_periods_they_name_and_a_default_covers_the_rest():
    gap = QUARTERLY + "  - {id: r1, plan: ae, quotas: {default: {2026-Q1: 10, 2026-Q3: 10}}}\n"
    assert [p.split(": ", 2)[2][:36] for p in problems_of(gap)] == ["'r1' has no 'quota' for 2026-Q2, whi"]
    covered = QUARTERLY + "  - {id: r1, plan: ae, quotas: {default: {2026-Q1: 10, '*': 20}}}\n"
    assert problems_of(covered) == []
    book = parse_plan_book(load_text(covered).data)
    assert book.participants["r1"].quota("default", "2026-Q2") == Decimal(20)
    plan_default = QUARTERLY.replace("period: quarter", "period: quarter\n    quotas: {default: 50}") + \
        "  - {id: r1, plan: ae, quotas: {default: {2026-Q1: 10, 2026-Q3: 10}}}\n"
    assert problems_of(plan_default) == []


def test_a_quota_key_that_is_no_period_is_reported():
    problems = problems_of(QUARTERLY + "  - {id: r1, plan: ae, quotas: {default: {Q1-2026: 10, '*': 10}}}\n")
    assert len(problems) == 1 and "participants[0].quotas.default.Q1-2026: 'Q1-2026' is not a period" in problems[0]


BOOK = """\
fx_rates:
  - {base: SGD, quote: INR, date: 2026-01-01, rate: 62.1}
plans:
  - id: india
    currency: INR
    deal_currencies: [INR, SGD]
    components: [{id: c, measure: closed_won_amount, rate: 0.05}]
  - id: us
    currency: USD
    deal_currencies: [USD]
    components: [{id: c, measure: closed_won_amount, rate: 0.05}]
participants:
  - {id: r1, plan: india}
  - {id: r2, plan: us}
"""


def test_deal_currencies_are_per_plan_so_a_usd_plan_does_not_break_an_inr_plan():
    assert problems_of(BOOK) == []
    # the book-level list is the default for plans without their own: USD deals would reach the INR plan too
    book_wide = BOOK.replace("    deal_currencies: [INR, SGD]\n", "").replace("    deal_currencies: [USD]\n", "")
    problems = problems_of("deal_currencies: [USD]\n" + book_wide)
    assert len(problems) == 1, problems
    assert problems[0].startswith("plans.yaml:6: plans[0].currency: no FX path from deal currency USD to plan "
                                  "'india' currency INR"), problems


def test_a_plan_listing_a_currency_it_cannot_convert_is_the_one_reported():
    problems = problems_of(BOOK.replace("deal_currencies: [USD]", "deal_currencies: [USD, SGD]"))
    assert len(problems) == 1, problems
    assert problems[0].startswith("plans.yaml:10: plans[1].deal_currencies: no FX path from deal currency SGD to "
                                  "plan 'us' currency USD"), problems


def test_every_problem_in_a_file_is_reported_in_one_run():
    problems = problems_of("""\
plans:
  - id: ae
    currency: XYZ
    components:
      - {id: a, measure: nope, rate: abc}
      - {id: b, measure: closed_won_amount, tiers: {table: [{from: 1, rate: 0.1}]}}
  - id: se
    currency: INR
    period: fortnight
    components: [{id: c, measure: closed_won_amount, rate: 0.05, gate: {min_attainment: 0.5}}]
participants:
  - {id: r1, plan: ae, start: 2026-02-30}
  - {id: r2, plan: se}
""")
    expected = [
        "plans.yaml:3: plans[0].currency: unknown currency 'XYZ'",
        "plans.yaml:5: plans[0].components[0].measure: 'nope' is not a known measure",
        "plans.yaml:5: plans[0].components[0].rate: ",
        "plans.yaml:6: plans[0].components[1].tiers.table[0].from: the first tier starts at 1, not 0",
        "plans.yaml:9: plans[1].period: 'fortnight' is not a period type",
        "plans.yaml:12: participants[0].start: '2026-02-30' is not a date",
    ]
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)
    assert not any("no plan" in p for p in problems), "a plan with errors is not also reported as missing"


def test_an_unquoted_impossible_date_is_a_problem_with_its_line_not_a_traceback(tmp_path, capsys):
    from cli.main import main

    path = tmp_path / "plans.yaml"
    path.write_text(QUARTERLY.replace("period: quarter", "period: quarter\n    effective_from: 2026-13-01")
                    + "  - {id: r1, plan: ae, quota: 100}\n")
    assert validate([path]) == [f"{path}:5: plans[0].effective_from: '2026-13-01' is not a date "
                                "(hint: write dates as YYYY-MM-DD)"]
    with pytest.raises(SystemExit) as failed:
        main(["plans", "validate", str(path)])
    assert failed.value.code == 1
    assert "1 problem(s)" in capsys.readouterr().out


def test_files_that_are_not_yaml_are_each_reported_with_their_line_and_the_others_still_read(tmp_path):
    (tmp_path / "a.yaml").write_text("plans:\n  - id: [unclosed\n")
    (tmp_path / "b.yaml").write_text("- just a list\n")
    (tmp_path / "c.yaml").write_text("participants: []\n")
    problems = validate([tmp_path])
    assert len(problems) == 3, problems
    assert problems[0].startswith(f"{tmp_path / 'a.yaml'}:3: not valid YAML")
    assert problems[1].startswith(f"{tmp_path / 'b.yaml'}:1: a plan file is a mapping")
    assert problems[2].startswith("(the plan book's meaning is checked")


def test_the_calculator_start_up_loader_refuses_a_bad_book_with_the_located_report(tmp_path):
    path = tmp_path / "plans.yaml"
    path.write_text(QUARTERLY + "  - {id: r1, plan: ae}\n")
    with pytest.raises(PlanFilesError) as refused:
        load_book([path])
    assert str(refused.value) == (f"invalid plan book:\n  {path}:8: participants[0]: 'r1' has no 'quota', which "
                                  "plan 'ae' component 'tiered' measures attainment against (hint: add `quota:` "
                                  "to the participant, or a default under the plan's quotas:)")
    assert isinstance(refused.value, PlanError)


# --- no input makes validation raise anything but its own error -----------------------------------

NAMES = st.sampled_from(sorted({*BOOK_FIELDS, *PLAN_FIELDS, *COMPONENT_FIELDS, "table", "from", "to", "rate",
                                "plan", "plans", "quota", "quotas", "manager", "managers", "base", "quote", "date",
                                "object", "sum", "count", "when", "credit_to", "clawback", "*", "2026-Q1", "2026"}))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=12),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.dates(date(1990, 1, 1), date(2100, 1, 1)), st.sampled_from(["INR", "USD", "JPY", "closed_won_amount", "ae",
                                                                    "quarter", "month", "r1", "2026-13-01"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(NAMES, inner, max_size=5)), max_leaves=30)
MAPPINGS = st.dictionaries(NAMES, VALUES, max_size=8)
BOOKS = st.one_of(
    st.dictionaries(st.sampled_from(BOOK_FIELDS), VALUES, max_size=6),
    st.fixed_dictionaries(  # shaped like a book, so the checks deep inside plans and participants run too
        {"plans": st.lists(MAPPINGS, max_size=3), "participants": st.lists(MAPPINGS, max_size=3)},
        optional={"measures": st.dictionaries(st.text(max_size=5), MAPPINGS, max_size=2),
                  "roles": st.dictionaries(st.text(max_size=5), VALUES, max_size=2), "fx_rates": VALUES,
                  "deal_currencies": VALUES}),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BOOKS)
def test_no_plan_book_data_makes_the_parser_raise_anything_but_a_plan_error(data):
    try:
        parse_plan_book(data)
    except PlanError as error:
        assert error.problems and all(str(p) for p in error.problems)


def _as_json(value):
    return str(value) if isinstance(value, date) else value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BOOKS, st.booleans())
def test_no_yaml_or_json_document_makes_validation_raise(data, as_json):
    text = json.dumps(data, default=_as_json) if as_json else yaml.safe_dump(data)
    problems = validate_located(load_text(text))
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#%@ \n\t,?0123456789.")), max_size=60))
def test_no_text_makes_validation_raise(text):
    assert all(isinstance(p, str) for p in validate_located(load_text(text)))
