"""The API's enumerations: what a user sets (state, method, goal, W&B mode) and what the operator
reports (the sweep's phase, a run's state)."""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    CANCELLED = "cancelled"


class Method(StrEnum):
    GRID = "grid"
    RANDOM = "random"
    BAYES = "bayes"
    TPE = "tpe"
    CMAES = "cmaes"
    QMC = "qmc"


class Goal(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class Phase(StrEnum):
    RUNNING = "Running"
    PAUSED = "Paused"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    CANCELLED = "Cancelled"
    FINISHED = "Finished"
    FAILED = "Failed"
    CRASHED = "Crashed"


class RunState(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    FINISHED = "Finished"
    FAILED = "Failed"
    CRASHED = "Crashed"
    KILLED = "Killed"


ACTIVE_RUN_STATES = frozenset({RunState.PENDING, RunState.RUNNING})
# Phases after which nothing happens until the user changes spec.state.
SETTLED_PHASES = frozenset({Phase.STOPPED, Phase.CANCELLED, Phase.FINISHED, Phase.FAILED, Phase.CRASHED})


class WandbMode(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"
