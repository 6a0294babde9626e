"""A person's notification preferences and when a notification may reach them (pure: the clock is an argument).

Channels: ``push`` (Web Push to the installed PWA), ``slack``, ``teams``, ``email``; the gRPC stream is live
and always on. Quiet hours are local times in the person's IANA time zone (``22:00``-``07:00`` spans
midnight); a notification due inside them waits for their end. ``digest``: ``none`` (each milestone when it
happens) or ``daily`` (the day's milestones together at ``digest_at`` local time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CHANNELS = ("push", "slack", "teams", "email")
DIGESTS = ("none", "daily")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class PreferencesError(ValueError):
    """Preferences that cannot be kept: the message names the field."""


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A browser's PushSubscription (its JSON): where the push service takes it, and the keys to encrypt to."""

    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True, slots=True)
class Preferences:
    person_id: str
    channels: tuple[str, ...] = ()
    locale: str = "en"
    time_zone: str = "UTC"
    quiet_start: str = ""  # HH:MM local; empty: no quiet hours
    quiet_end: str = ""
    digest: str = "none"
    digest_at: str = "08:00"
    email: str = ""
    slack_webhook: str = ""
    teams_webhook: str = ""
    push: tuple[PushSubscription, ...] = field(default=())

    def check(self) -> Preferences:
        """Itself, or :class:`PreferencesError` naming the first field that is wrong."""
        for channel in self.channels:
            if channel not in CHANNELS:
                raise PreferencesError(f"channels: {channel!r} is not one of {', '.join(CHANNELS)}")
        if self.digest not in DIGESTS:
            raise PreferencesError(f"digest: {self.digest!r} is not one of {', '.join(DIGESTS)}")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PreferencesError(f"time_zone: {self.time_zone!r} is not an IANA time zone") from None
        for name in ("quiet_start", "quiet_end", "digest_at"):
            value = getattr(self, name)
            if value and not _CLOCK.match(value):
                raise PreferencesError(f"{name}: {value!r} is not a local time HH:MM")
        if bool(self.quiet_start) != bool(self.quiet_end):
            raise PreferencesError("quiet_start and quiet_end: give both or neither")
        needs = {"email": self.email, "slack": self.slack_webhook, "teams": self.teams_webhook, "push": self.push}
        for channel in self.channels:
            if not needs[channel]:
                raise PreferencesError(f"channels: {channel} is chosen but its address is not given")
        for url in (self.slack_webhook, self.teams_webhook, *(p.endpoint for p in self.push)):
            if url and not url.startswith(("https://", "http://")):
                raise PreferencesError(f"{url!r} is not an http(s) URL")
        return self


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def deliver_at(now: datetime, preferences: Preferences) -> datetime:
    """When a notification due at ``now`` (aware, UTC) may go out to this person: ``now`` unless in quiet hours
    or held for the daily digest. (The gRPC stream ignores this: a live screen is looked at.)

    >>> from datetime import timezone
    >>> p = Preferences("r1", time_zone="Europe/Paris", quiet_start="22:00", quiet_end="07:00")
    >>> deliver_at(datetime(2026, 12, 1, 22, 30, tzinfo=timezone.utc), p).isoformat()
    '2026-12-02T06:00:00+00:00'
    """
    zone = ZoneInfo(preferences.time_zone)
    local = now.astimezone(zone)
    if preferences.digest == "daily":
        at = datetime.combine(local.date(), _clock(preferences.digest_at), zone)
        if at <= local:
            at += timedelta(days=1)
        return at.astimezone(now.tzinfo)
    if not preferences.quiet_start:
        return now
    start, end = _clock(preferences.quiet_start), _clock(preferences.quiet_end)
    clock = local.time()
    quiet = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not quiet:
        return now
    ends = datetime.combine(local.date(), end, zone)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(now.tzinfo)
