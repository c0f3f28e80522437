"""`kubectl sweep`'s API client, through pykube-ng: the kubeconfig and its context, the few
requests the commands make, and what an API error tells the user to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubesweep import api


class PluginError(Exception):
    """A failure to tell the user, with what to do about it."""


class NotFound(PluginError):
    """404, said as what to do about it."""


class Conflict(PluginError):
    """409: the object changed since it was read (a write that carried its resourceVersion)."""


class Cluster:
    def __init__(self, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
        import pykube

        try:
            config = (
                pykube.KubeConfig.from_env()
                if kubeconfig is None
                else pykube.KubeConfig.from_file(kubeconfig)
            )
        except Exception as exc:
            raise PluginError(
                f"cannot load a kubeconfig ({exc}); set KUBECONFIG or pass --kubeconfig"
            ) from None
        if context:
            if context not in config.contexts:
                raise PluginError(f"no context {context!r} in the kubeconfig")
            config.set_current_context(context)
        self.http = pykube.HTTPClient(config, timeout=15)
        self.namespace = namespace or config.namespace or "default"

    def request(self, method: str, path: str, *, what: str, **kwargs: Any) -> Any:
        import requests

        url = f"{self.http.url.rstrip('/')}{path}"
        try:
            response = self.http.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise PluginError(
                f"cannot reach the API server at {self.http.url} ({exc.__class__.__name__}); is the cluster up and the context right?"
            ) from None
        if response.status_code == 404:
            raise NotFound(f'{what} not found in namespace "{self.namespace}"; see `kubectl sweep list -A`')
        if response.status_code == 403:
            raise PluginError(
                f"forbidden: {_message(response)}; ask for {method.lower()} permission on the resource in "
                f'namespace "{self.namespace}" (see `kubectl auth can-i`)'
            )
        if response.status_code == 409:
            raise Conflict(f"the API server refused: {_message(response)}")
        if response.status_code >= 400:
            raise PluginError(f"the API server refused: {_message(response)}")
        return response

    def sweep_path(self, name: str | None = None, namespace: str | None = None) -> str:
        ns = namespace if namespace is not None else self.namespace
        base = f"/apis/{api.GROUP}/{api.VERSION}"
        path = f"{base}/namespaces/{ns}/{api.PLURAL}" if ns else f"{base}/{api.PLURAL}"
        return f"{path}/{name}" if name else path

    def sweep(self, name: str) -> dict[str, Any]:
        return dict(self.request("GET", self.sweep_path(name), what=f'sweep "{name}"').json())

    def sweeps(self, all_namespaces: bool) -> list[dict[str, Any]]:
        path = self.sweep_path(namespace="" if all_namespaces else None)
        return list(self.request("GET", path, what="sweeps").json()["items"])

    def patch_sweep(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return dict(
            self.request(
                "PATCH",
                self.sweep_path(name),
                what=f'sweep "{name}"',
                data=json.dumps(patch),
                headers={"Content-Type": "application/merge-patch+json"},
            ).json()
        )

    def jobs(self, sweep: str) -> list[dict[str, Any]]:
        from kubesweep import runs

        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        params = {"labelSelector": f"{api.LABEL_SWEEP}={runs.label_value(sweep)}"}
        return list(self.request("GET", path, what="jobs", params=params).json()["items"])

    def job(self, name: str) -> dict[str, Any]:
        job = self.find_job(name)
        if job is None:
            raise PluginError(
                f'run "{name}" not found in namespace "{self.namespace}"; see `kubectl sweep list -A`'
            )
        return job

    def find_job(self, name: str) -> dict[str, Any] | None:
        """The run's Job, or None when there is none (any more)."""
        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs/{name}"
        try:
            job = dict(self.request("GET", path, what=f'run "{name}"').json())
        except NotFound:
            return None
        if api.LABEL_SWEEP not in (job["metadata"].get("labels") or {}):
            raise PluginError(f'job "{name}" is not a run of any sweep')
        return job

    def patch_job(self, name: str, patch: dict[str, Any]) -> None:
        path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs/{name}"
        self.request(
            "PATCH",
            path,
            what=f'run "{name}"',
            data=json.dumps(patch),
            headers={"Content-Type": "application/merge-patch+json"},
        )

    def pods_of_run(self, run: str) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        items = self.request("GET", path, what="pods", params={"labelSelector": f"job-name={run}"}).json()[
            "items"
        ]
        return sorted(items, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    def log(self, pod: str, follow: bool, write: Callable[[str], None]) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods/{pod}/log"
        response = self.request(
            "GET", path, what=f'pod "{pod}"', params={"follow": "true" if follow else "false"}, stream=follow
        )
        if not follow:
            write(response.text)
            return
        for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
            write(chunk)


def _message(response: Any) -> str:
    try:
        return str(response.json().get("message") or response.reason)
    except ValueError:
        return str(response.text or response.reason)
