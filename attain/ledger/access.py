"""Who may read and do what: a rep sees their own data, a manager their team, admins their regions."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_ROLES = frozenset({"comp_admin", "finance", "admin"})
# The region of a rep the org does not place (no ``participants`` row): admins read them, and count their
# periods, in this region, so an admin of every region or of ``unassigned`` can act on them.
UNASSIGNED_REGION = "unassigned"


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[str]
    regions: frozenset[str]  # for admins; "*" is every region

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)


@dataclass(frozen=True)
class RepFacts:
    rep_id: str
    region: str | None
    manager_id: str | None
    # The rep's managers on the day asked about, nearest first (their whole network upward);
    # empty when only the direct manager is known.
    managers: tuple[str, ...] = ()

    @property
    def network(self) -> tuple[str, ...]:
        """Every manager whose network holds the rep."""
        if self.managers:
            return self.managers
        return () if self.manager_id is None else (self.manager_id,)

    @property
    def admin_region(self) -> str:
        """The region admins read the rep in: their own, or ``unassigned`` when the org does not place them (the
        region their periods count them in), so such a rep's disputes and entries have admins who may act."""
        return self.region or UNASSIGNED_REGION


def can_read_rep(principal: Principal, rep: RepFacts) -> bool:
    """True when ``principal`` may read ``rep``'s entries, statements and disputes.

    >>> boss = Principal("m1", frozenset({"manager"}), frozenset())
    >>> can_read_rep(boss, RepFacts("r1", "south", "m1")), can_read_rep(boss, RepFacts("r2", "south", "m9"))
    (True, False)
    >>> skip = RepFacts("r3", "south", "m1", managers=("m1", "m0"))  # m0 manages m1
    >>> can_read_rep(Principal("m0", frozenset({"manager"}), frozenset()), skip)
    True
    >>> admin = Principal("a1", frozenset({"comp_admin"}), frozenset({"south"}))
    >>> can_read_rep(admin, RepFacts("r2", "south", "m9")), can_read_rep(admin, RepFacts("r3", "north", None))
    (True, False)
    >>> unplaced = RepFacts("r4", None, None)  # not in the org: read as region "unassigned"
    >>> can_read_rep(admin, unplaced), can_read_rep(Principal("a2", frozenset({"admin"}), frozenset({"*"})), unplaced)
    (False, True)
    """
    if principal.user_id == rep.rep_id:
        return True
    if "manager" in principal.roles and principal.user_id in rep.network:
        return True
    if principal.is_admin:
        return "*" in principal.regions or rep.admin_region in principal.regions
    return False


@dataclass(frozen=True)
class PeriodFacts:
    """Whose pay a period (one scope, one period) holds: for scoping admins and the manager step."""

    scope: str
    period: str
    # The regions of the reps with entries in the period ("unassigned" for a rep the org does not place);
    # for region-scoped periods the scope itself is one of them.
    regions: frozenset[str]
    # Every manager (direct and upward) of a rep with entries in the period.
    managers: frozenset[str]
    payees: frozenset[str] = frozenset()


def covers_regions(principal: Principal, regions: frozenset[str]) -> bool:
    """True when ``principal`` is an admin whose regions hold every one of ``regions``.

    Nothing known (no regions) is covered only by an admin of every region ("*"), so an
    admin of one region cannot act on a period whose reach is not known yet.

    >>> south = Principal("a1", frozenset({"comp_admin"}), frozenset({"south"}))
    >>> covers_regions(south, frozenset({"south"})), covers_regions(south, frozenset({"south", "north"}))
    (True, False)
    >>> covers_regions(south, frozenset()), covers_regions(Principal("a0", frozenset({"admin"}), frozenset({"*"})),
    ...                                                    frozenset())
    (False, True)
    """
    if not principal.is_admin:
        return False
    if "*" in principal.regions:
        return True
    return bool(regions) and regions <= principal.regions


def can_administer_period(principal: Principal, facts: PeriodFacts) -> bool:
    """Lock, mark paid, read approvals, export payouts: an admin whose regions hold the whole period."""
    return covers_regions(principal, facts.regions)


def can_take_step(principal: Principal, step: str, facts: PeriodFacts) -> bool:
    """May ``principal`` decide ``step`` of the period's approval chain (besides separation of duties)?

    The manager step belongs to a manager of the period's network (any level upward); an admin
    step (comp_admin, finance) to a holder of that role whose regions hold the whole period.

    >>> facts = PeriodFacts("ae", "2026-Q1", frozenset({"south"}), frozenset({"m1", "m0"}))
    >>> can_take_step(Principal("m0", frozenset({"manager"}), frozenset()), "manager", facts)
    True
    >>> can_take_step(Principal("m9", frozenset({"manager"}), frozenset()), "manager", facts)
    False
    >>> can_take_step(Principal("f1", frozenset({"finance"}), frozenset({"north"})), "finance", facts)
    False
    """
    if step not in principal.roles:
        return False
    if step == "manager":
        return principal.user_id in facts.managers
    return covers_regions(principal, facts.regions)


def pays_themselves(principal: Principal, rep_id: str) -> bool:
    """A manual entry, adjustment or dispute resolution that would pay its own author (always refused)."""
    return principal.user_id == rep_id


def can_read_access_log(principal: Principal) -> bool:
    """The access log (who read whose pay) is for admins; each sees the rows of their regions."""
    return principal.is_admin


def access_log_regions(principal: Principal) -> frozenset[str] | None:
    """The regions whose access-log rows ``principal`` may read; None for every region."""
    return None if "*" in principal.regions else principal.regions
