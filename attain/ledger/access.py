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


def can_read_rep(principal: Principal, rep: RepFacts) -> bool:
    """True when ``principal`` may read ``rep``'s entries, statements and disputes.

    >>> boss = Principal("m1", frozenset({"manager"}), frozenset())
    >>> can_read_rep(boss, RepFacts("r1", "south", "m1")), can_read_rep(boss, RepFacts("r2", "south", "m9"))
    (True, False)
    >>> admin = Principal("a1", frozenset({"comp_admin"}), frozenset({"south"}))
    >>> can_read_rep(admin, RepFacts("r2", "south", "m9")), can_read_rep(admin, RepFacts("r3", "north", None))
    (True, False)
    """
    if principal.user_id == rep.rep_id:
        return True
    if "manager" in principal.roles and rep.manager_id is not None and rep.manager_id == principal.user_id:
        return True
    if principal.is_admin and rep.region is not None:
        return "*" in principal.regions or rep.region in principal.regions
    return False
