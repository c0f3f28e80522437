"""A run observed from its Job, its pods and, for hyperband, its log read now and then.

The logs of a sweep's executing runs are kept parsed so far (`runs.LogParser`), so each read
parses only what the one before had not. A log is read by `Cluster.read_log` in a thread of its
own, streamed, in bounded memory, never on the event loop.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Protocol

from kubesweep import api, runs

Key = tuple[str, str]  # (namespace, the sweep's label value)

# How often a running run's log is read for hyperband's intermediate values.
STEP_LOG_INTERVAL = 1.0
# A log that takes long to read (a run printing hundreds of MB) is read less often: the log
# reader threads spend at most about 1/STEP_LOG_PACE of their time on each running run.
STEP_LOG_PACE = 4.0

# Per pod: (when its log is due to be read again, its log parsed so far, of which restart of its
# container).
Logs = dict[str, tuple[float, runs.LogParser, int]]


class LogReader(Protocol):
    async def read_log(
        self, namespace: str, pod: str, container: str | None = None, parser: runs.LogParser | None = None
    ) -> runs.LogParser: ...


class RunLogs:
    """Per sweep, the logs of its executing runs parsed so far: hyperband's intermediate values."""

    def __init__(self, reader: LogReader) -> None:
        self.reader = reader
        self._logs: dict[Key, Logs] = {}

    def take(self, key: Key, early: bool) -> Logs | None:
        """The sweep's logs for a pass (None without hyperband: its logs are not followed)."""
        return self._logs.pop(key, {}) if early else None

    def keep(self, key: Key, logs: Logs | None, watched_pods: set[str]) -> None:
        """Only the logs of pods still watched: an ended run's log is not read again."""
        if logs:
            self._logs[key] = {name: log for name, log in logs.items() if name in watched_pods}

    def forget(self, key: Key) -> None:
        self._logs.pop(key, None)

    async def observe(
        self,
        namespace: str,
        job: dict[str, Any],
        pods: list[dict[str, Any]],
        logs: Logs | None,
        start_timeout: float = runs.START_TIMEOUT,
        keep: tuple[str, ...] = (),
    ) -> runs.Run:
        """The run of `job`; with `logs` (hyperband), an executing run's log is read at most
        every STEP_LOG_INTERVAL (or STEP_LOG_PACE times as long as its last read took) for its
        intermediate values, each read parsing only what the one before had not. `keep`: the
        sweep's metric or objectives, which the parser keeps whatever else the run prints."""
        run = runs.observe(job, pods, start_timeout=start_timeout)
        if run.recorded or not pods:
            return run
        latest = runs.latest_pod(pods)
        assert latest is not None
        name = latest["metadata"]["name"]
        restarts = sum(
            s.get("restartCount", 0) for s in latest.get("status", {}).get("containerStatuses") or []
        )
        due, parser, read_of = (logs or {}).get(name, (0.0, runs.LogParser(keep), restarts))
        # The spec names another metric now, or the container restarted (its log is a new one):
        # the log parsed from its start.
        if parser.keep != keep or read_of != restarts:
            due, parser = 0.0, runs.LogParser(keep)
        # An ended run's log is read once more, to its end: its record keeps its band values.
        if run.needs_log or (logs is not None and (not run.active or time.monotonic() >= due)):
            started = time.monotonic()
            parser = await self.reader.read_log(namespace, name, latest.get("container"), parser)
            took = time.monotonic() - started
            if logs is not None:
                logs[name] = (
                    time.monotonic() + max(STEP_LOG_INTERVAL, STEP_LOG_PACE * took),
                    parser,
                    restarts,
                )
            run = runs.observe(job, pods, parser, start_timeout=start_timeout)
        elif logs is not None and name in logs:
            run = runs.observe(job, pods, parser, start_timeout=start_timeout)
        if logs is not None and run.state == api.RunState.RUNNING:
            # Its log grows without an event (a run alone in its sweep sends none until it ends):
            # a pass reads it again when it is due, so hyperband judges every step it reaches.
            wait = (
                max(STEP_LOG_INTERVAL, logs[name][0] - time.monotonic())
                if name in logs
                else STEP_LOG_INTERVAL
            )
            again = time.time() + wait
            run = dataclasses.replace(run, deadline=min(run.deadline or again, again))
        return run
