"""Moved to :mod:`attain.contracts.crm_changes` (the ``crm.changes`` contract); re-exported for older importers."""

from attain.contracts.crm_changes import (
    DEFAULT_LIMITS,
    UNPARSEABLE,
    InvalidEvent,
    Limits,
    UnreadableNumber,
    normalise,
    parse_json,
    to_json_bytes,
)

__all__ = ["DEFAULT_LIMITS", "UNPARSEABLE", "InvalidEvent", "Limits", "UnreadableNumber", "normalise", "parse_json",
           "to_json_bytes"]
