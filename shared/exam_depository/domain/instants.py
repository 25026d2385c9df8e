"""Instants and time zones: the one way an instant is written, and the zones an exam may have
(every instant is stored and sent in UTC; an exam's zone is for display only)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from importlib.resources import files


def rfc3339(instant: datetime) -> str:
    """An instant as every answer writes it, the same text pydantic's JSON gives a model's field:
    RFC 3339 in UTC with `Z` (`2026-12-14T08:00:00Z`). For what is written outside a model: a
    problem's members and details, a receipt's claims."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The names an exam's time zone may have: the zone list of tzdata (pinned in the layer, so
    the same on every runtime image), without Factory (no place: "-00"). The list holds canonical
    names and their backward links; it leaves out what sits beside them in a zoneinfo folder,
    which ZoneInfo would open and browsers refuse (Intl.DateTimeFormat throws a RangeError): the
    posix/ and right/ trees, localtime, posixrules, the .tab files. tests/e2e checks every name in
    Chromium."""
    return frozenset((files("tzdata") / "zones").read_text(encoding="utf-8").split()) - {"Factory"}


def shown_time_zone(stored: str) -> str:
    """The zone sent for a stored one. An exam created before names were checked (on input, by
    `time_zone_names`) may hold one that browsers refuse, and its pages would break: a name under
    posix/ or right/ is sent as the zone it copies (right/ only adds leap seconds, which no browser
    counts); anything else (localtime, posixrules, Factory) meant the server's clock or none,
    which is UTC on Lambda."""
    if stored in time_zone_names():
        return stored
    tree, _, zone = stored.partition("/")
    if tree in ("posix", "right") and zone in time_zone_names():
        return zone
    return "UTC"
