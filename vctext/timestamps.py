"""Times as people read them in the text, the report and log lines: 00:04, or 1:02:03."""

from __future__ import annotations


def format_time(seconds: float, always_hours: bool = False) -> str:
    """00:04, or 1:02:03 past an hour."""
    total = int(max(seconds, 0.0))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if h or always_hours:
        return f"{h}:{m:02d}:{s:02d}"
    return f"{m:02d}:{s:02d}"
