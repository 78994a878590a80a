"""DownloadHealth with explicit times, and the service's download health with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generated.types import Heartbeat, HeartbeatModelReport, ModelStatus, NodeMetrics, NodeModelState, NodeRegistration
from runtime.lifecycle.download_health import DownloadHealth
from runtime.lifecycle.service import Change, LifecycleService
from tests.runtime.fakes import FakeClock, MemoryStore

# ======================================================================================= DownloadHealth


def health_fed(samples: list[tuple[float, int]], total: int = 1000, **options) -> DownloadHealth:
    (first_time, first_done), *rest = samples
    health = DownloadHealth(first_time, first_done, total, **options)
    for moment, done in rest:
        health.add(moment, done, total)
    return health


def test_the_rate_is_unknown_from_a_single_sample():
    health = DownloadHealth(0.0, 0, 1000)
    assert health.rate(0.0) is None
    assert health.eta(0.0) is None


def test_the_rate_is_unknown_until_the_samples_span_min_span():
    health = health_fed([(0.0, 0), (0.25, 50)])
    assert health.rate(0.25) is None
    health.add(0.5, 100, 1000)
    assert health.rate(0.5) == pytest.approx(200.0)


def test_the_rate_is_the_growth_over_the_samples():
    health = health_fed([(0.0, 0), (1.0, 100), (2.0, 200), (4.0, 400)])
    assert health.rate(4.0) == pytest.approx(100.0)


def test_the_rate_covers_the_last_window_only():
    samples = [(float(t), 10 * t) for t in range(11)]  # 10 B/s for 10 s
    samples += [(float(t), 100 + 100 * (t - 10)) for t in range(11, 21)]  # then 100 B/s
    health = health_fed(samples, total=10_000)
    assert health.rate(20.0) == pytest.approx(100.0)


def test_a_window_of_its_own_size():
    samples = [(float(t), 10 * t) for t in range(6)] + [(float(t), 50 + 40 * (t - 5)) for t in range(6, 11)]
    health = health_fed(samples, total=10_000, window=5.0)
    assert health.rate(10.0) == pytest.approx(40.0)


def test_the_eta_is_what_is_left_at_the_current_rate():
    health = health_fed([(0.0, 0), (2.0, 200), (4.0, 400)])
    assert health.eta(4.0) == pytest.approx(6.0)  # 600 bytes left at 100 B/s


def test_the_eta_of_a_finished_download_is_zero():
    health = health_fed([(0.0, 0), (1.0, 1000)])
    assert health.eta(1.0) == 0.0


def test_a_sample_at_the_same_time_replaces_the_last():
    health = health_fed([(0.0, 0), (1.0, 100), (1.0, 150)])
    assert health.rate(1.0) == pytest.approx(150.0)


def test_not_stalled_while_the_bytes_grow():
    health = health_fed([(0.0, 0), (10.0, 100), (20.0, 200)])
    assert health.stalled(39.9, 20.0) is False
    assert health.stalled(40.0, 20.0) is True
    assert health.stalls_at(20.0) == 40.0


def test_stalled_after_stall_after_without_growth_even_with_reports():
    health = health_fed([(0.0, 0), (1.0, 100), (10.0, 100), (20.0, 100)])
    assert health.stalled(20.0, 20.0) is False
    assert health.stalled(21.0, 20.0) is True
    assert health.stalls_at(20.0) == 21.0


def test_stalled_from_the_start_without_growth():
    health = DownloadHealth(5.0, 0, 1000)
    assert health.stalled(24.0, 20.0) is False
    assert health.stalled(25.0, 20.0) is True


def test_progress_ends_a_stall_at_once():
    health = health_fed([(0.0, 0), (30.0, 0)])
    assert health.stalled(30.0, 20.0) is True
    health.add(31.0, 1, 1000)
    assert health.stalled(31.0, 20.0) is False


def test_the_rate_is_zero_and_the_eta_unknown_after_a_window_without_growth():
    health = health_fed([(0.0, 0), (1.0, 100), (5.0, 100)])
    assert health.rate(5.0) == pytest.approx(100 / 5)
    assert health.rate(10.9) == pytest.approx(100 / 5)  # asked later, before a window without growth
    assert health.rate(11.0) == 0.0
    assert health.eta(11.0) is None
    health.add(11.0, 100, 1000)
    assert health.rate(11.0) == 0.0


def test_bytes_going_back_start_over():
    health = health_fed([(0.0, 0), (1.0, 500), (50.0, 500)])
    assert health.stalled(50.0, 20.0) is True
    health.add(51.0, 10, 1000)  # the node restarted its download
    assert health.stalled(51.0, 20.0) is False
    assert health.rate(51.0) is None
    health.add(52.0, 60, 1000)
    assert health.rate(52.0) == pytest.approx(50.0)
    assert health.eta(52.0) == pytest.approx(940 / 50)


def test_another_total_starts_over():
    health = health_fed([(0.0, 0), (1.0, 500), (2.0, 600)])
    health.add(3.0, 600, 2000)
    assert health.rate(3.0) is None
    assert health.stalls_at(20.0) == 23.0
    health.add(4.0, 800, 2000)
    assert health.rate(4.0) == pytest.approx(200.0)
    assert health.eta(4.0) == pytest.approx(6.0)


# ============================================================================ the service's health

A, B = "qwen3-0.6b", "llama-3.2-1b-instruct"
OFFLINE_AFTER = 30.0
STALL_AFTER = 20.0
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
DOWNLOADING, READY = NodeModelState.downloading, NodeModelState.ready


def downloading(model_id: str, done: int, total: int = 1000) -> HeartbeatModelReport:
    return HeartbeatModelReport(model_id=model_id, state=DOWNLOADING, bytes_done=done, bytes_total=total)


def beat(*reports: HeartbeatModelReport) -> Heartbeat:
    return Heartbeat(metrics=NodeMetrics(cpu_usage=0.1), models=list(reports))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def changes() -> list[Change]:
    return []


@pytest.fixture
async def service(clock: FakeClock, changes: list[Change]) -> LifecycleService:
    service = LifecycleService(
        MemoryStore(), offline_after=OFFLINE_AFTER, stall_after=STALL_AFTER, auto_approve=True, clock=clock
    )
    await service.start()
    await service.register(A)
    await service.register(B)
    for runtime_id in ("n1", "n2"):
        await service.add_node(NodeRegistration(runtime_id=runtime_id, machine_name=f"box-{runtime_id}"))
    service.listeners.append(changes.append)
    return service


@pytest.mark.asyncio
async def test_expire_flags_a_stall_without_any_heartbeat(service, clock, changes):
    await service.heartbeat("n1", beat(downloading(A, 100)))
    clock.advance(STALL_AFTER - 1)
    await service.expire()
    assert service.row(A, "n1").stalled is False
    clock.advance(1)
    await service.expire()
    row = service.row(A, "n1")
    assert row.stalled is True
    assert service.node("n1").status.value == "online"  # still within offline_after
    aggregate = service.aggregate(A)
    assert (aggregate.node_counts.downloading, aggregate.node_counts.stalled) == (1, 1)
    assert aggregate.status == ModelStatus.downloading
    assert service.stalled_count() == 1
    assert changes[-1] == Change(models=frozenset({A}), node_models=frozenset({(A, "n1")}))


@pytest.mark.asyncio
async def test_a_stall_is_reported_once(service, clock, changes):
    await service.heartbeat("n1", beat(downloading(A, 100)))
    clock.advance(STALL_AFTER)
    await service.expire()
    told, version = len(changes), service.version
    clock.advance(1)
    await service.expire()
    assert (len(changes), service.version) == (told, version)


@pytest.mark.asyncio
async def test_a_heartbeat_without_growth_flags_the_stall_too(service, clock, changes):
    await service.heartbeat("n1", beat(downloading(A, 100)))
    clock.advance(10)
    await service.heartbeat("n1", beat(downloading(A, 100)))
    assert service.row(A, "n1").stalled is False
    clock.advance(10)
    await service.heartbeat("n1", beat(downloading(A, 100)))
    assert service.row(A, "n1").stalled is True
    assert service.aggregate(A).node_counts.stalled == 1
    assert (A, "n1") in changes[-1].node_models
    assert A in changes[-1].models


@pytest.mark.asyncio
async def test_progress_clears_a_stall(service, clock, changes):
    await service.heartbeat("n1", beat(downloading(A, 100)))
    clock.advance(STALL_AFTER)
    await service.expire()
    clock.advance(1)
    await service.heartbeat("n1", beat(downloading(A, 101)))
    assert service.row(A, "n1").stalled is False
    assert service.aggregate(A).node_counts.stalled == 0
    assert service.stalled_count() == 0
    assert changes[-1].node_models == frozenset({(A, "n1")})
    assert A in changes[-1].models


@pytest.mark.asyncio
async def test_a_stalled_download_that_finishes_is_no_longer_stalled(service, clock):
    await service.heartbeat("n1", beat(downloading(A, 100)))
    clock.advance(STALL_AFTER)
    await service.expire()
    await service.heartbeat(
        "n1", beat(HeartbeatModelReport(model_id=A, state=READY, bytes_done=1000, bytes_total=1000))
    )
    row = service.row(A, "n1")
    assert (row.stalled, row.bytes_per_second, row.eta_seconds) == (False, None, None)
    assert service.aggregate(A).node_counts.stalled == 0


@pytest.mark.asyncio
async def test_a_stall_on_a_node_that_goes_offline_counts_as_offline_only(service, clock):
    await service.heartbeat("n1", beat(downloading(A, 100)))
    await service.heartbeat("n2", beat(downloading(A, 100)))
    clock.advance(STALL_AFTER)
    await service.heartbeat("n2", beat(downloading(A, 200)))
    await service.expire()
    assert service.aggregate(A).node_counts.stalled == 1
    clock.advance(OFFLINE_AFTER - STALL_AFTER)
    await service.expire()
    assert service.node("n1").status.value == "offline"
    counts = service.aggregate(A).node_counts
    assert (counts.downloading, counts.stalled, counts.offline) == (1, 0, 1)
    assert service.stalled_count() == 0


@pytest.mark.asyncio
async def test_stalls_are_counted_per_model(service, clock):
    await service.heartbeat("n1", beat(downloading(A, 100), downloading(B, 100)))
    await service.heartbeat("n2", beat(downloading(A, 100)))
    clock.advance(STALL_AFTER)
    await service.heartbeat("n1", beat(downloading(A, 100), downloading(B, 300)))
    await service.expire()
    assert (service.aggregate(A).node_counts.stalled, service.aggregate(B).node_counts.stalled) == (2, 0)
    assert service.stalled_count() == 2


@pytest.mark.asyncio
async def test_rows_carry_the_rate_and_the_eta(service, clock):
    await service.heartbeat("n1", beat(downloading(A, 0)))
    row = service.row(A, "n1")
    assert (row.bytes_per_second, row.eta_seconds) == (None, None)
    for done in (100, 200):
        clock.advance(2)
        await service.heartbeat("n1", beat(downloading(A, done)))
    row = service.row(A, "n1")
    assert row.bytes_per_second == pytest.approx(50.0)
    assert row.eta_seconds == pytest.approx(800 / 50)
    assert service.model_rows(A) == [row]
    assert service.node_detail("n1").models == [row]


@pytest.mark.asyncio
async def test_the_rate_drops_to_zero_without_growth(service, clock):
    await service.heartbeat("n1", beat(downloading(A, 0)))
    clock.advance(2)
    await service.heartbeat("n1", beat(downloading(A, 100)))
    clock.advance(10)
    row = service.row(A, "n1")
    assert (row.bytes_per_second, row.eta_seconds) == (0.0, None)


@pytest.mark.asyncio
async def test_a_restarted_download_starts_its_health_over(service, clock):
    await service.heartbeat("n1", beat(downloading(A, 0)))
    clock.advance(2)
    await service.heartbeat("n1", beat(downloading(A, 500)))
    clock.advance(STALL_AFTER)
    await service.expire()
    assert service.row(A, "n1").stalled is True
    failed = HeartbeatModelReport(model_id=A, state=NodeModelState.failed, bytes_done=500, bytes_total=1000)
    await service.heartbeat("n1", beat(failed))
    assert service.row(A, "n1").stalled is False
    await service.heartbeat("n1", beat(downloading(A, 0)))
    row = service.row(A, "n1")
    assert (row.stalled, row.bytes_per_second, row.eta_seconds) == (False, None, None)
    clock.advance(1)
    await service.heartbeat("n1", beat(downloading(A, 100)))
    assert service.row(A, "n1").bytes_per_second == pytest.approx(100.0)


@pytest.mark.asyncio
async def test_download_rates_sum_the_non_offline_nodes_per_model(service, clock):
    assert service.download_rates() == {A: 0.0, B: 0.0}
    await service.heartbeat("n1", beat(downloading(A, 0), downloading(B, 0)))
    await service.heartbeat("n2", beat(downloading(A, 0)))
    clock.advance(2)
    await service.heartbeat("n1", beat(downloading(A, 200), downloading(B, 50)))
    await service.heartbeat("n2", beat(downloading(A, 100)))
    assert service.download_rates() == pytest.approx({A: 150.0, B: 25.0})
    clock.advance(OFFLINE_AFTER - 5)
    await service.heartbeat("n1", beat(downloading(A, 300), downloading(B, 50)))
    clock.advance(5)
    await service.expire()
    assert service.node("n2").status.value == "offline"
    rates = service.download_rates()
    assert rates[A] == pytest.approx(service.row(A, "n1").bytes_per_second)
    assert rates[B] == 0.0  # no growth for a whole window


@pytest.mark.asyncio
async def test_unregister_and_delete_node_drop_the_health(service, clock):
    await service.heartbeat("n1", beat(downloading(A, 0), downloading(B, 0)))
    clock.advance(STALL_AFTER)
    await service.expire()
    assert service.stalled_count() == 2
    await service.unregister(B)
    assert service.stalled_count() == 1
    assert set(service.download_rates()) == {A}
    await service.delete_node("n1")
    assert service.stalled_count() == 0
    assert service.download_rates() == {A: 0.0}


@pytest.mark.asyncio
async def test_a_restart_starts_every_downloads_health_over(service, clock):
    await service.heartbeat("n1", beat(downloading(A, 100)))
    clock.advance(STALL_AFTER)
    await service.expire()
    assert service.row(A, "n1").stalled is True
    await service.flush(everything=True)
    restarted = LifecycleService(service.store, offline_after=OFFLINE_AFTER, stall_after=STALL_AFTER, clock=clock)
    await restarted.start()
    row = restarted.row(A, "n1")
    assert (row.bytes_done, row.stalled, row.bytes_per_second) == (100, False, None)  # health lives in memory
    clock.advance(STALL_AFTER - 1)
    await restarted.heartbeat("n1", beat(downloading(A, 100)))
    assert restarted.row(A, "n1").stalled is False
    clock.advance(1)
    await restarted.expire()
    assert restarted.row(A, "n1").stalled is True
    assert restarted.aggregate(A).node_counts.stalled == 1


def _reference_add(health: DownloadHealth, now: float, bytes_done: int, bytes_total: int) -> None:
    """``DownloadHealth.add`` as written before its fast path: the rule, without the shortcut."""
    samples = health._samples
    last_time, last_done = samples[-1]
    if bytes_total != health._total or bytes_done < last_done:
        samples.clear()
        health._grew_at = now
        health._total = bytes_total
    elif bytes_done > last_done:
        health._grew_at = now
    if samples and now <= last_time:
        samples[-1] = (last_time, bytes_done)
    elif len(samples) >= 2 and now - samples[-2][0] < health.min_span:
        samples[-1] = (now, bytes_done)
    else:
        samples.append((now, bytes_done))
    while len(samples) > 2 and samples[1][0] <= now - health.window:
        samples.popleft()


_REPORTS = st.lists(
    st.tuples(st.floats(0, 2, allow_nan=False), st.integers(-50, 200), st.sampled_from([1000, 1000, 1000, 2000])),
    max_size=60,
)


@given(_REPORTS)
def test_the_fast_path_keeps_the_rule(reports):
    """Any sequence of reports leaves the same samples, growth time and total as the plain rule."""
    fast, plain = DownloadHealth(0.0, 0, 1000), DownloadHealth(0.0, 0, 1000)
    now, done = 0.0, 0
    for step, delta, total in reports:
        now, done = now + step, max(0, done + delta)
        fast.add(now, done, total)
        _reference_add(plain, now, done, total)
        assert (list(fast._samples), fast._grew_at, fast._total) == (list(plain._samples), plain._grew_at, plain._total)
        assert (fast.rate(now), fast.eta(now)) == (plain.rate(now), plain.eta(now))
