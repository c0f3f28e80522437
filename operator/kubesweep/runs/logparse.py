"""Metrics out of a run: its termination message, and its log parsed as a stream in bounded
memory. Pure functions; no API calls."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Sequence
from typing import Any

# Metrics out of the run.

_PAIR = re.compile(r"(?<![\w.-])([A-Za-z_][\w./-]*)=([^\s,;]+)")


def to_float(text: Any) -> float | None:
    if isinstance(text, bool):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_pairs(line: str) -> dict[str, float]:
    """The numeric `name=value` pairs of one line."""
    pairs: dict[str, float] = {}
    for name, raw in _PAIR.findall(line):
        value = to_float(raw)
        if value is not None:
            pairs[name] = value
    return pairs


def parse_termination_message(message: str | None) -> dict[str, float]:
    """A JSON object, or `name=value` lines."""
    if not message or not message.strip():
        return {}
    text = message.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            return {k: v for k, v in ((str(k), to_float(v)) for k, v in data.items()) if v is not None}
    metrics: dict[str, float] = {}
    for line in text.splitlines():
        metrics.update(parse_pairs(line))
    return metrics


def parse_log(log: str) -> tuple[dict[str, float], list[tuple[int, dict[str, float]]]]:
    """Final metrics (the last value of each name) and intermediate values (lines with step=N)."""
    parser = LogParser()
    parser.feed(log.encode())
    parser.close()
    return parser.final, parser.steps


# A run's log may be hundreds of MB: it is read as a stream and parsed as it comes, with what is
# kept bounded. A line longer than MAX_LOG_LINE is parsed in pieces cut at whitespace; names past
# the first MAX_LOG_NAMES are dropped (a record keeps a few anyway: bounded_metrics), except the
# sweep's metric or each of its objectives; MAX_LOG_STEPS step lines are kept, the first ones
# (hyperband's bands count them from the start).
MAX_LOG_LINE = 64 * 1024
MAX_LOG_NAMES = 1000
MAX_LOG_STEPS = 10_000
MAX_STEP_NAMES = 10


class LogParser:
    """parse_log's semantics over a log fed in chunks of bytes, in memory bounded whatever the
    log's size: the last value of each name wins, `step=N` lines are intermediate values. `keep`
    (the sweep's metric, or each of its objectives, as bounded_metrics takes them) is kept beyond
    the names' bound, and a step keeps only its values (all hyperband reads)."""

    def __init__(self, keep: str | Sequence[str] | None = None) -> None:
        self.keep: tuple[str, ...] = (keep,) if isinstance(keep, str) else tuple(keep or ())
        self._kept = frozenset(self.keep)
        self.final: dict[str, float] = {}
        self.steps: list[tuple[int, dict[str, float]]] = []
        self.consumed = 0  # bytes fed so far
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        self.consumed += len(chunk)
        data = self._partial + chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
        else:
            body = data[:end]
            if b"step=" in body:
                for line in body.split(b"\n"):
                    self._line(line)
            elif b"=" in body:  # no intermediate values: all the lines' pairs at once, in order
                self._pairs(body.decode("utf-8", "replace"))
            self._partial = data[end + 1 :]
        while len(self._partial) > MAX_LOG_LINE:
            # An endless line: parse its head up to the last whitespace, keep the rest.
            cut = max(self._partial.rfind(b" ", 0, MAX_LOG_LINE), self._partial.rfind(b"\t", 0, MAX_LOG_LINE))
            cut = cut if cut > 0 else MAX_LOG_LINE
            self._line(self._partial[:cut])
            self._partial = self._partial[cut:]

    def close(self) -> None:
        """The log ended: its last line, without a newline, counts too."""
        if self._partial:
            self._line(self._partial)
            self._partial = b""

    def result(self) -> tuple[dict[str, float], list[tuple[int, dict[str, float]]]]:
        """Final metrics and steps so far, the unfinished last line counted (it stays kept: a
        later chunk may continue it)."""
        if not self._partial:
            return self.final, self.steps
        ended = LogParser(self.keep)
        ended.final, ended.steps, ended._partial = dict(self.final), list(self.steps), self._partial
        ended.close()
        return ended.final, ended.steps

    def _line(self, raw: bytes) -> None:
        if b"=" not in raw:  # most lines of a long log: no pair to find
            return
        for line in raw.decode("utf-8", "replace").splitlines():  # a \r ends a line too
            self._pairs(line)

    def _pairs(self, line: str) -> None:
        pairs = parse_pairs(line)
        if not pairs:
            return
        step = pairs.pop("step", None)
        for name, value in pairs.items():
            if name in self.final or len(self.final) < MAX_LOG_NAMES or name in self._kept:
                self.final[name] = value
        if step is None or not pairs or len(self.steps) >= MAX_LOG_STEPS:
            return
        if self.keep:
            if kept := {name: pairs[name] for name in self.keep if name in pairs}:
                self.steps.append((int(step), kept))
        else:
            self.steps.append((int(step), dict(itertools.islice(pairs.items(), MAX_STEP_NAMES))))
