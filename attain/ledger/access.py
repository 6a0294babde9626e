"""Who may read and do what: a rep sees their own data, a manager their team, admins their regions."""

from __future__ import annotations

from dataclasses import dataclass

ADMIN_ROLES = frozenset({"comp_admin", "finance", "admin"})


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
    """
    if principal.user_id == rep.rep_id:
        return True
    if "manager" in principal.roles and principal.user_id in rep.network:
        return True
    if principal.is_admin and rep.region is not None:
        return "*" in principal.regions or rep.region in principal.regions
    return False
