"""Timestamps as the API server writes them, and their age as kubectl shows it."""

from __future__ import annotations

import datetime
import time


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    seconds = max(0, int(time.time() - parse_time(timestamp)))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
