"""The ledger's one access policy without a database, and the rate-limit setting."""

import pytest
from pydantic import ValidationError

from attain.ledger.access import (
    PeriodFacts,
    Principal,
    RepFacts,
    access_log_regions,
    can_administer_period,
    can_read_access_log,
    can_read_rep,
    can_take_step,
    pays_themselves,
)
from services.ledger.config import LedgerSettings


def who(user, roles, regions=()):
    return Principal(user, frozenset(roles), frozenset(regions))


SOUTH_AND_NORTH = PeriodFacts("ae", "2026-Q1", frozenset({"south", "north"}), frozenset({"mona", "sam", "mark"}))


def test_a_region_admin_administers_only_periods_wholly_in_their_regions():
    assert not can_administer_period(who("sally", ["comp_admin"], ["south"]), SOUTH_AND_NORTH)
    assert can_administer_period(who("both", ["comp_admin"], ["south", "north"]), SOUTH_AND_NORTH)
    assert can_administer_period(who("root", ["admin"], ["*"]), SOUTH_AND_NORTH)
    assert not can_administer_period(who("mona", ["manager"], ["*"]), SOUTH_AND_NORTH)  # not an admin role
    empty = PeriodFacts("ae", "2026-Q2", frozenset(), frozenset())
    assert not can_administer_period(who("sally", ["comp_admin"], ["south"]), empty)


def test_the_manager_step_belongs_to_the_periods_network_and_admin_steps_to_its_regions():
    assert can_take_step(who("sam", ["manager"]), "manager", SOUTH_AND_NORTH)
    assert not can_take_step(who("max", ["manager"]), "manager", SOUTH_AND_NORTH)
    assert not can_take_step(who("sam", ["rep"]), "manager", SOUTH_AND_NORTH)  # the role is needed too
    assert not can_take_step(who("fin", ["finance"], ["south"]), "finance", SOUTH_AND_NORTH)
    assert can_take_step(who("fin", ["finance"], ["*"]), "finance", SOUTH_AND_NORTH)


def test_a_skip_level_manager_reads_the_network_and_nobody_pays_themselves():
    rep = RepFacts("alice", "south", "mona", managers=("mona", "sam"))
    assert can_read_rep(who("sam", ["manager"]), rep)
    assert not can_read_rep(who("sam", ["rep"]), rep)  # holding the manager role is part of it
    assert pays_themselves(who("ada", ["comp_admin"], ["*"]), "ada")
    assert not pays_themselves(who("ada", ["comp_admin"], ["*"]), "alice")


def test_admins_read_a_rep_the_org_does_not_place_as_region_unassigned():
    """Review 9 M2: such a rep's periods count as ``unassigned`` (admins of ``*`` lock and pay them), so do they."""
    unplaced = RepFacts("new-01", None, None)
    assert unplaced.admin_region == "unassigned"
    assert can_read_rep(who("root", ["comp_admin"], ["*"]), unplaced)
    assert can_read_rep(who("una", ["finance"], ["unassigned"]), unplaced)
    assert not can_read_rep(who("sally", ["comp_admin"], ["south"]), unplaced)
    assert not can_read_rep(who("mona", ["manager"], ["*"]), unplaced)  # regions make no one an admin


def test_the_access_log_is_for_admins_each_in_their_regions():
    assert not can_read_access_log(who("mona", ["manager"]))
    assert access_log_regions(who("sally", ["comp_admin"], ["south"])) == {"south"}
    assert access_log_regions(who("root", ["admin"], ["*"])) is None


def test_the_rate_limit_setting_is_checked_when_read():
    assert LedgerSettings(rate_limit="20/second").rate_limit == "20/second"
    assert LedgerSettings(rate_limit="").rate_limit == ""  # no limit
    with pytest.raises(ValidationError, match="ATTAIN_LEDGER_RATE_LIMIT 'lots' is not a rate"):
        LedgerSettings(rate_limit="lots")
