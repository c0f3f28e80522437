"""What the operator wrote that its cache does not show yet: resourceVersions compared for
equality only, never as numbers."""

from __future__ import annotations

from typing import Any

from kubesweep import api
from kubesweep.expectations import EXPECTATION_TIMEOUT, Expectations

KEY = ("ns", "s")


def _sweep(rv: str, status: dict[str, Any], generation: int = 1, uid: str = "u") -> dict[str, Any]:
    meta = {"name": "s", "uid": uid, "resourceVersion": rv, "generation": generation}
    return {"metadata": meta, "spec": {}, "status": status}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_written_sweep_stands_until_the_cache_shows_that_version() -> None:
    expectations = Expectations()
    written = _sweep("9", {"phase": "Running"})
    expectations.wrote_status(KEY, written)
    # "10" is older than "9" only as text, "1000" newer only as a number: neither is compared.
    for stale in ("10", "1000", "8"):
        assert expectations.sweep(KEY, _sweep(stale, {"phase": "Pending"})) is written
    cached = _sweep("9", {"phase": "Running"})
    assert expectations.sweep(KEY, cached) is cached
    # Caught up once: an older version seen later is the cache's own business.
    older = _sweep("8", {"phase": "Pending"})
    assert expectations.sweep(KEY, older) is older


def test_a_later_version_with_the_status_written_is_caught_up_even_if_ours_was_never_seen() -> None:
    # kopf handles only the newest of a burst of events: a spec change right after our write may
    # hide our version's event.
    expectations = Expectations()
    expectations.wrote_status(KEY, _sweep("a7", {"phase": "Running"}, generation=1))
    later = _sweep("b2", {"phase": "Running"}, generation=2)
    assert expectations.sweep(KEY, later) is later


def test_a_version_with_the_status_written_but_an_older_spec_is_not_caught_up() -> None:
    expectations = Expectations()
    written = _sweep("x", {"phase": "Running"}, generation=3)
    expectations.wrote_status(KEY, written)
    assert expectations.sweep(KEY, _sweep("y", {"phase": "Running"}, generation=2)) is written


def test_a_sweep_replaced_or_gone_ends_the_expectation() -> None:
    expectations = Expectations()
    expectations.wrote_status(KEY, _sweep("1", {"phase": "Running"}))
    again = _sweep("2", {}, uid="other")
    assert expectations.sweep(KEY, again) is again
    expectations.wrote_status(KEY, _sweep("3", {"phase": "Running"}))
    assert expectations.sweep(KEY, None) is None
    stale = _sweep("1", {})
    assert expectations.sweep(KEY, stale) is stale


def test_an_expectation_the_cache_never_fulfils_ends_after_its_timeout() -> None:
    clock = Clock()
    expectations = Expectations(clock)
    written = _sweep("5", {"phase": "Running"})
    expectations.wrote_status(KEY, written)
    stale = _sweep("4", {})
    clock.now = EXPECTATION_TIMEOUT - 1
    assert expectations.sweep(KEY, stale) is written
    clock.now = EXPECTATION_TIMEOUT + 1
    assert expectations.sweep(KEY, stale) is stale


def _job(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": annotations or {}}, "spec": {"parallelism": 1}}


def test_a_recorded_result_shows_on_the_job_until_the_cache_has_one() -> None:
    expectations = Expectations()
    expectations.recorded("ns", "s-0001", '{"state":"Killed"}', {"backoffLimit": 0})
    shown = expectations.with_record("ns", _job("s-0001"))
    assert shown["metadata"]["annotations"][api.ANNOTATION_RESULT] == '{"state":"Killed"}'
    assert shown["spec"] == {"parallelism": 1, "backoffLimit": 0}
    cached = _job("s-0001", {api.ANNOTATION_RESULT: '{"state":"Killed"}'})
    assert expectations.with_record("ns", cached) is cached
    bare = _job("s-0001")
    assert expectations.with_record("ns", bare) is bare  # forgotten once the cache caught up
    assert expectations.with_record("other", _job("s-0001")) == _job("s-0001")


def test_a_created_job_counts_until_the_cache_shows_it() -> None:
    expectations = Expectations()
    expectations.created(KEY, "s-0002", _job("s-0002"))
    assert [j["metadata"]["name"] for j in expectations.with_created(KEY, [_job("s-0001")])] == [
        "s-0001",
        "s-0002",
    ]
    cached = [_job("s-0001"), _job("s-0002")]
    assert expectations.with_created(KEY, cached) == cached
    assert expectations.with_created(KEY, [_job("s-0001")]) == [_job("s-0001")]  # forgotten


def test_released_objects_are_left_out_until_the_cache_lets_them_go() -> None:
    expectations = Expectations()
    expectations.released(KEY, jobs=["s-0001"], pods=["s-0001-a"])
    jobs = [_job("s-0001"), _job("s-0002")]
    assert [j["metadata"]["name"] for j in expectations.without_released(KEY, "jobs", jobs)] == ["s-0002"]
    assert expectations.without_released(KEY, "pods", [_job("s-0001-a")]) == []
    # The cache let the Job go: the release is forgotten, and a Job of that name is seen again.
    assert expectations.without_released(KEY, "jobs", [_job("s-0002")]) == [_job("s-0002")]
    assert expectations.without_released(KEY, "jobs", jobs) == jobs


def test_the_deleted_event_of_a_release_is_expected_once() -> None:
    expectations = Expectations()
    expectations.released(KEY, jobs=["s-0001"])
    assert expectations.release_seen(KEY, "jobs", "s-0001")
    assert not expectations.release_seen(KEY, "jobs", "s-0001")
    assert not expectations.release_seen(KEY, "pods", "s-0001")


def test_forget_drops_everything_of_a_sweep() -> None:
    expectations = Expectations()
    expectations.wrote_status(KEY, _sweep("1", {"phase": "Running"}))
    expectations.created(KEY, "s-0001", _job("s-0001"))
    expectations.released(KEY, jobs=["s-0002"])
    expectations.forget(KEY)
    cached = _sweep("0", {})
    assert expectations.sweep(KEY, cached) is cached
    assert expectations.with_created(KEY, []) == []
    assert not expectations.release_seen(KEY, "jobs", "s-0002")
