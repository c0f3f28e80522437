"""The reasons of the sweep's conditions and events that more than one rule gives, and the
messages that say what to do about them."""

from __future__ import annotations

# Runs whose Jobs one pass releases at most: their records all go into one status write.
RELEASES_PER_PASS = 200

# Condition reasons a resumed sweep does not clear by itself.
TEMPLATE_REJECTED = "TemplateRejected"
INVALID_SPEC = "InvalidSpec"
# The API server refused to create a run's Job for lack of permission: the sweep keeps its phase
# and the operator retries, with a backoff of PERMISSION_RETRY_FIRST doubling to _MAX seconds.
PERMISSION_DENIED = "PermissionDenied"
PERMISSION_RETRY_FIRST = 1.0
PERMISSION_RETRY_MAX = 60.0
# The namespace's ResourceQuota refused a run's Job (a 403 too): not a permission error, the sweep
# waits for room, retrying as above but at most every QUOTA_RETRY_MAX seconds (the room comes
# back as runs end, in seconds).
QUOTA_EXCEEDED = "QuotaExceeded"
QUOTA_RETRY_MAX = 10.0
# A run that finished without the sweep's metric: a Warning event of this reason.
METRIC_MISSING = "MetricMissing"
# Without maxFailedRuns a sweep stops as W&B's agent does: its first runs all failed, none finished.
FIRST_RUNS_FAILED = 5
# Completed=False reasons of a sweep that ended without a result.
NO_RUN_FINISHED = "NoRunFinished"
NO_METRIC_REPORTED = "NoMetricReported"
# A Warning event: the template carries kubesweep.io/* labels or annotations, or KUBESWEEP_*
# environment variables, which the operator owns (runs.render_job leaves them out).
RESERVED_KEYS_IGNORED = "ReservedKeysIgnored"
# Progressing's reason, and a Warning event as it appears: a run's Job was suspended by hand.
RUNS_SUSPENDED = "RunsSuspended"
# A rerun asked for in the annotation kubesweep.io/reruns that cannot be done (status.refusedReruns).
RERUN_REFUSED = "RerunRefused"
# The event that says, when a sweep starts, which distribution each parameter samples from.
SEARCH_SPACE = "SearchSpace"


def is_quota_refusal(server_message: str) -> bool:
    """Whether a 403 is a ResourceQuota's ("exceeded quota: ...", or "forbidden: ... quota")."""
    text = server_message.lower()
    return "exceeded quota" in text or ("forbidden" in text and "quota" in text)


def permission_retry_delay(failures: int, server_message: str = "") -> float:
    """Seconds before creating Jobs again after `failures` refusals in a row for lack of permission
    (or of quota, whose room comes back sooner)."""
    cap = QUOTA_RETRY_MAX if is_quota_refusal(server_message) else PERMISSION_RETRY_MAX
    return min(PERMISSION_RETRY_FIRST * 2.0 ** max(failures - 1, 0), cap)


def quota_exceeded_message(server_message: str) -> str:
    return (
        f"Waiting for quota: the API server refused to create the run's Job: {server_message}. "
        "Runs start by themselves as the namespace's ResourceQuota has room again (runs ending and "
        "their Jobs deleted, or the quota raised)"
    )


def permission_denied_message(server_message: str) -> str:
    """The API server's refusal, and the permission a cluster admin grants to fix it."""
    return (
        f"The API server refused to create the run's Job: {server_message}. The operator's service "
        "account needs create on jobs (batch) and update on sweeps/finalizers (kubesweep.io), which "
        "the OwnerReferencesPermissionEnforcement admission plugin checks (see the chart's RBAC, "
        "docs/install.md); runs start by themselves once it is granted"
    )
