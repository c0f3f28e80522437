"""The names of the API: its group, version and kind, and the labels, annotations and finalizer
that the operator, the plugin and the runs share (DESIGN.md)."""

from __future__ import annotations

GROUP = "kubesweep.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Sweep"
PLURAL = "sweeps"
SINGULAR = "sweep"
SHORT_NAMES = ["sw"]
CATEGORIES = ["all-sweeps"]

# Labels and annotations of the contract (DESIGN.md).
LABEL_SWEEP = "kubesweep.io/sweep"
LABEL_RUN = "kubesweep.io/run"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubesweep"
ANNOTATION_PARAMETERS = "kubesweep.io/parameters"
ANNOTATION_RESULT = "kubesweep.io/result"
ANNOTATION_STOP = "kubesweep.io/stop"
# The run number: Job names can be shortened with a hash, so the number is kept beside them.
ANNOTATION_RUN_NUMBER = "kubesweep.io/run-number"
# A run started again, on its Job: an automatic retry of a run the cluster took away (the
# previous attempt's name, and which attempt this is, from 1), or a rerun by hand.
ANNOTATION_RETRY_OF = "kubesweep.io/retry-of"
ANNOTATION_ATTEMPT = "kubesweep.io/attempt"
ANNOTATION_RERUN_OF = "kubesweep.io/rerun-of"
# On the Sweep: reruns by hand asked for (kubectl sweep rerun), a JSON object of run name → how
# many reruns by hand that run should have had in all. A count, not a queue: asking again after a
# restart or a retried patch starts nothing twice.
ANNOTATION_RERUNS = "kubesweep.io/reruns"
# Keeps a Job (and so its record) until the operator has copied its outcome into the Sweep.
JOB_FINALIZER = "kubesweep.io/run-record"
# On a run's Job and pods once the Sweep's status holds its record: the operator's watches
# exclude them, so its memory grows with the runs executing, not with every run ever kept.
LABEL_RECORDED = "kubesweep.io/recorded"
# Kueue's queue label: a Job that carries it waits, suspended, until its queue admits it.
LABEL_QUEUE = "kueue.x-k8s.io/queue-name"
