"""An embedded Kubernetes cluster: an API emulator on kmock, a job controller and a kubelet."""
