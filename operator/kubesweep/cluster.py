"""The only module that talks to the Kubernetes API (the official `kubernetes` client).

The client is synchronous; every call runs in a worker thread so the operator's event loop
keeps serving watches while requests are in flight.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kubesweep import api
from kubesweep.runs import STOP_DEADLINE, LogParser

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Rejected(Exception):
    """The API server refused a request as invalid (4xx other than conflicts and throttling)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Forbidden(Rejected):
    """The API server refused for lack of permission (403): RBAC, or an admission plugin such as
    OwnerReferencesPermissionEnforcement. The request was fine; granting the permission fixes it."""


class Gone(Exception):
    """The object does not exist (404)."""


def _message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        body = {}
    return str(body.get("message") or exc.reason or exc)


def _is_rejection(exc: ApiException) -> bool:
    return exc.status in (400, 403, 422) or (
        exc.status is not None and 400 <= exc.status < 500 and exc.status not in (404, 408, 409, 429)
    )


# Logs are streamed and parsed in threads of their own, at most LOG_READERS at once: a run's log
# of hundreds of MB takes seconds to parse, and in the threads that serve API calls (asyncio's
# default executor, a few threads on a small node) it would hold back every sweep's requests.
LOG_READERS = 2
LOG_CHUNK = 64 * 1024

USER_AGENT = "kubesweep-operator"
MERGE_PATCH = "application/merge-patch+json"


def release_patch(
    finalizers: list[str], resource_version: str, *, recorded: bool = False, result: str | None = None
) -> dict[str, Any]:
    """The JSON merge patch (RFC 7396) that releases a Job: the whole finalizer list less ours
    (null when none is left), at the resourceVersion it was read at."""
    remaining = [f for f in finalizers if f != api.JOB_FINALIZER]
    meta: dict[str, Any] = {"finalizers": remaining or None, "resourceVersion": resource_version}
    if recorded:
        meta["labels"] = {api.LABEL_RECORDED: "true"}
    if result is not None:
        meta["annotations"] = {api.ANNOTATION_RESULT: result}
    return {"metadata": meta}


# Object names such as an Event's are DNS subdomains of at most 253 characters.
MAX_NAME = 253


def event_name(sweep_name: str, suffix: str) -> str:
    """`<sweep>.<suffix>`, the sweep's part shortened with a hash when the whole would pass
    MAX_NAME (a sweep's name may itself be 253 characters long)."""
    name = f"{sweep_name}.{suffix}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(sweep_name.encode()).hexdigest()[:6]
    keep = MAX_NAME - len(suffix) - len(digest) - 2
    return f"{sweep_name[:keep].rstrip('-.')}-{digest}.{suffix}"


class Cluster:
    """Typed calls for what the operator does; errors translated into Rejected/Gone."""

    def __init__(self, api_client: client.ApiClient | None = None) -> None:
        if api_client is None:
            configuration = client.Configuration()
            try:
                config.load_incluster_config(client_configuration=configuration)
            except config.ConfigException:
                config.load_kube_config(client_configuration=configuration)
            # One connection per concurrent request: reconciles of many sweeps run in parallel.
            configuration.connection_pool_maxsize = 32
            api_client = client.ApiClient(configuration)
            # Names the operator in API server audit logs (and in the sandbox's request record).
            api_client.user_agent = USER_AGENT
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.on_error: Callable[[str, int], None] = lambda verb, status: None
        self.log_readers = concurrent.futures.ThreadPoolExecutor(LOG_READERS, thread_name_prefix="log")

    async def _call(self, verb: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._call_on(None, verb, fn, *args, **kwargs)

    async def _call_on(
        self,
        executor: concurrent.futures.Executor | None,
        verb: str,
        fn: Callable[..., T],
        *args: Any,
        **kwargs: Any,
    ) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(
                executor, functools.partial(fn, *args, **kwargs)
            )
        except ApiException as exc:
            self.on_error(verb, exc.status or 0)
            if exc.status == 404:
                raise Gone(_message(exc)) from exc
            if exc.status == 403:
                raise Forbidden(403, _message(exc)) from exc
            if _is_rejection(exc):
                raise Rejected(exc.status or 0, _message(exc)) from exc
            raise

    def _create_json(self, path: str, body: Mapping[str, Any]) -> None:
        """POSTs `body` as the plain JSON kubectl sends, with strict field validation: the API
        server is the judge of the template. (The client's generated method first validates the
        body against its own models, which refuse valid Kubernetes such as `cpu: 2`, and let a
        typo such as `comand:` be dropped with a warning by the server.)"""
        request = self.api_client.param_serialize(
            method="POST",
            resource_path=path,
            query_params=[("fieldValidation", "Strict")],
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=dict(body),
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(
                http_resp=response, body=(response.data or b"").decode("utf-8", "replace"), data=None
            )

    async def create_job(self, namespace: str, body: Mapping[str, Any]) -> bool:
        """Creates the run's Job; False when it exists already (the name is the run's identity)."""
        try:
            await self._call("create", self._create_json, f"/apis/batch/v1/namespaces/{namespace}/jobs", body)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job as the API server has it now; None when there is none."""
        try:
            job = await self._call("get", self.batch.read_namespaced_job, name, namespace)
        except Gone:
            return None
        result: Any = self.api_client.sanitize_for_serialization(job)
        return dict(result)

    async def patch_job(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """A strategic merge patch (what the client sends for a dict): maps merge, and so do
        lists with a merge strategy such as metadata.finalizers. Use it for maps and scalars."""
        await self._call("patch", self.batch.patch_namespaced_job, name, namespace, patch)

    async def release_job(
        self,
        namespace: str,
        name: str,
        finalizers: list[str],
        resource_version: str,
        *,
        recorded: bool = False,
        result: str | None = None,
    ) -> bool:
        """Removes our finalizer, guarded by resourceVersion so no other finalizer is lost; with
        `recorded`, also labels the Job so our watch lets it go, and writes `result` on it.
        False when the Job changed meanwhile (its next event brings another pass)."""
        patch = release_patch(finalizers, resource_version, recorded=recorded, result=result)
        try:
            # A JSON merge patch replaces the finalizer list whole (a strategic merge patch, the
            # client's default for a dict, would merge it and keep ours beside any other one);
            # the resourceVersion in it makes the server refuse it (409) if the list changed.
            await self._call(
                "patch",
                self.batch.patch_namespaced_job,
                name,
                namespace,
                patch,
                _content_type=MERGE_PATCH,
            )
        except Gone:
            return True
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def label_pod_recorded(self, namespace: str, name: str) -> None:
        """Lets the pod of a recorded run leave our watch (its Job has)."""
        patch = {"metadata": {"labels": {api.LABEL_RECORDED: "true"}}}
        with contextlib.suppress(Gone):
            await self._call("patch", self.core.patch_namespaced_pod, name, namespace, patch)

    async def stop_pod(self, namespace: str, name: str) -> None:
        """Lowers the pod's spec.activeDeadlineSeconds to runs.STOP_DEADLINE: its kubelet stops it
        with its grace period and keeps it (phase Failed, reason DeadlineExceeded), log and all.
        The API server refuses to raise a pod's deadline or remove it, so no one undoes this."""
        patch = {"spec": {"activeDeadlineSeconds": STOP_DEADLINE}}
        try:
            await self._call("patch", self.core.patch_namespaced_pod, name, namespace, patch)
        except Gone:
            pass
        except Rejected as exc:
            logger.warning("Could not stop pod %s/%s: %s", namespace, name, exc.message)

    async def delete_pods(
        self,
        namespace: str,
        label_selector: str,
        grace_period_seconds: int | None,
        field_selector: str | None = None,
    ) -> None:
        body = client.V1DeleteOptions(grace_period_seconds=grace_period_seconds)
        await self._call(
            "deletecollection",
            self.core.delete_collection_namespaced_pod,
            namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            grace_period_seconds=grace_period_seconds,
            body=body,
        )

    async def read_log(
        self, namespace: str, pod: str, container: str | None = None, parser: LogParser | None = None
    ) -> LogParser:
        """The pod's log parsed into `parser` (a new one if None): streamed, off the event loop,
        in bounded memory. A parser that has read part of the log before goes on where it
        stopped (the bytes before are skipped unparsed); if the log is shorter than what it read
        (another container's), it starts over."""
        parser = parser if parser is not None else LogParser()
        try:
            read = await self._call_on(
                self.log_readers, "get", self._stream_log, namespace, pod, container, parser
            )
            if read < parser.consumed:
                parser = LogParser(parser.keep)
                await self._call_on(
                    self.log_readers, "get", self._stream_log, namespace, pod, container, parser
                )
        except (Gone, Rejected):
            pass
        return parser

    def _stream_log(self, namespace: str, pod: str, container: str | None, parser: LogParser) -> int:
        """Feeds `parser` what follows its bytes consumed; the log's length."""
        # Without preloading, the client hands back the urllib3 response (typed as the log's str).
        response: Any = self.core.read_namespaced_pod_log(
            pod, namespace, container=container, _preload_content=False
        )
        skip, seen = parser.consumed, 0
        try:
            for chunk in response.stream(LOG_CHUNK):
                if seen + len(chunk) > skip:
                    parser.feed(chunk[max(skip - seen, 0) :])
                seen += len(chunk)
        finally:
            response.release_conn()
        return seen

    async def patch_sweep_status(
        self, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        result: Any = await self._call(
            "patch",
            self.custom.patch_namespaced_custom_object_status,
            api.GROUP,
            api.VERSION,
            namespace,
            api.PLURAL,
            name,
            {"status": status},
        )
        return dict(result)

    async def post_event(
        self, sweep: Mapping[str, Any], type_: str, reason: str, message: str, component: str = "kubesweep"
    ) -> None:
        meta = sweep["metadata"]
        now = datetime.datetime.now(datetime.UTC)
        event = client.CoreV1Event(
            metadata=client.V1ObjectMeta(
                name=event_name(meta["name"], uuid.uuid4().hex[:12]), namespace=meta["namespace"]
            ),
            involved_object=client.V1ObjectReference(
                api_version=api.API_VERSION,
                kind=api.KIND,
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
                resource_version=meta.get("resourceVersion"),
            ),
            type=type_,
            reason=reason,
            message=message[:1024],
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=client.V1EventSource(component=component),
            reporting_component=component,
            reporting_instance=component,
        )
        try:
            await self._call("create", self.core.create_namespaced_event, meta["namespace"], event)
        except (ApiException, Gone, Rejected) as exc:
            # Events are for people; losing one must never stop a reconcile.
            logger.warning("Could not post event %s for %s: %s", reason, meta["name"], exc)
