"""kubesweep: hyperparameter sweeps as a Kubernetes custom resource."""

__version__ = "0.1.0"
