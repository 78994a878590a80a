"""Prometheus metrics: requests and their latency, nodes and models by status, WebSocket clients.

Each app has its own registry (several apps live side by side in tests); the status gauges are
read from the lifecycle service at scrape time, so they are never out of date.

Every sample carries a ``replica`` label, the process's ``MODELHUB_REPLICA_ID`` (the one /readyz shows
as ``details.replica``), so that series of replicas behind one load balancer, or summed by a
dashboard, stay apart. prometheus_client has no constant labels (its maintainers point to target
labels and ``target_info``), so `Metrics.exposition` adds the label to every sample when it
renders a scrape, the wrapping-registry way they suggest (prometheus/client_python#740).
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from generated.types import ModelStatus, NodeStatus
from runtime.errors import AppError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar.types import ASGIApp, Message, Receive, Scope, Send
    from prometheus_client.registry import Collector

    from runtime.events.stream import EventStream
    from runtime.hf.services import HfStatsService
    from runtime.lifecycle.service import LifecycleService

#: Latency buckets in seconds: the hub answers in well under a millisecond, heartbeats in a few.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _StatusCollector:
    """Nodes and models by status, and the Hugging Face client's health, read on each scrape."""

    def __init__(self, lifecycle: LifecycleService, hf: HfStatsService) -> None:
        self.lifecycle = lifecycle
        self.hf = hf

    def collect(self) -> Iterator[Metric]:
        nodes = GaugeMetricFamily("modelhub_nodes", "Worker nodes by status", labels=["status"])
        counts = self.lifecycle.node_status_counts()
        for status in NodeStatus:
            nodes.add_metric([status.value], counts.get(status, 0))
        models = GaugeMetricFamily("modelhub_models", "Catalog models by status", labels=["status"])
        model_counts = self.lifecycle.model_status_counts()
        for model_status in ModelStatus:
            models.add_metric([model_status.value], model_counts.get(model_status.value, 0))
        yield nodes
        yield models
        yield GaugeMetricFamily(
            "modelhub_downloads_stalled",
            "Node-model downloads whose bytes stopped growing for MODELHUB_DOWNLOAD_STALL_AFTER",
            value=self.lifecycle.stalled_count(),
        )
        rates = GaugeMetricFamily(
            "modelhub_download_bytes_per_second",
            "Estimated download rate summed over nodes, per model",
            labels=["model"],
        )
        for model_id, rate in sorted(self.lifecycle.download_rates().items()):
            rates.add_metric([model_id], rate)
        yield rates
        yield from self._hf()

    def _hf(self) -> Iterator[Metric]:
        health = self.hf.cache.health
        for name, help_text, value in (
            ("modelhub_hf_cache_hits", "Stats lookups answered by a fresh cached value", health.hits),
            ("modelhub_hf_cache_misses", "Stats lookups without a fresh cached value", health.misses),
            ("modelhub_hf_upstream_calls", "Requests sent to the Hugging Face API", health.upstream_calls),
        ):
            yield CounterMetricFamily(name, help_text, value=value)
        outcomes = CounterMetricFamily("modelhub_hf_outcomes", "Hugging Face answers by kind", labels=["outcome"])
        for outcome, count in sorted(health.outcomes.items()):
            outcomes.add_metric([outcome], count)
        yield outcomes
        for name, help_text, moment in (
            (
                "modelhub_hf_last_success_timestamp_seconds",
                "When the Hub last answered with stats",
                health.last_success_at,
            ),
            ("modelhub_hf_last_error_timestamp_seconds", "When a call to the Hub last failed", health.last_error_at),
            (
                "modelhub_hf_cooldown_until_timestamp_seconds",
                "No calls to the Hub before this time (429)",
                health.cooldown_until,
            ),
        ):
            yield GaugeMetricFamily(name, help_text, value=moment.timestamp() if moment else 0.0)


class _EventsCollector:
    """WebSocket clients, the frames queued for them and their resynchronisations, read on each scrape."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "modelhub_ws_connections", "Open WebSocket connections", value=len(self.stream.connections)
        )
        yield CounterMetricFamily(
            "modelhub_ws_frames", "Event frames queued for WebSocket clients", value=self.stream.delivered
        )
        yield CounterMetricFamily(
            "modelhub_ws_resyncs",
            "ResyncRequired sent to clients that fell behind or after a gap",
            value=self.stream.resyncs,
        )


#: The label every sample carries: the replica that exported it.
REPLICA_LABEL = "replica"


class _Labelled:
    """The metrics of ``collector`` with ``labels`` added to every sample (a sample's own label of that name wins)."""

    def __init__(self, collector: Collector, labels: dict[str, str]) -> None:
        self.collector = collector
        self.labels = labels

    def collect(self) -> Iterator[Metric]:
        for metric in self.collector.collect():
            labelled = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            labelled.samples = [sample._replace(labels={**self.labels, **sample.labels}) for sample in metric.samples]
            yield labelled


class Metrics:
    """One app's metrics registry and the middleware that feeds it."""

    def __init__(self, lifecycle: LifecycleService, hf: HfStatsService) -> None:
        """Create the registry, the request metrics and the status collector."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelhub_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "modelhub_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry.register(_StatusCollector(lifecycle, hf))

    def watch(self, stream: EventStream) -> None:
        """Add the WebSocket metrics of ``stream``."""
        self.registry.register(_EventsCollector(stream))

    def exposition(self, replica: str) -> bytes:
        """The registry in Prometheus text format, every sample labelled ``replica="<replica>"``."""
        return generate_latest(_Labelled(self.registry, {REPLICA_LABEL: replica}))

    def _new_series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The request counter and latency histogram of one (method, route, status).

        Kept per key by ``middleware``: ``labels()`` checks and looks up its arguments under a lock,
        ~5 us a request on the heartbeat's path (py-spy, bench/runtime_http.py).
        """
        return self.requests.labels(method, route, str(status)), self.latency.labels(method, route)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """ASGI middleware that counts every HTTP request and observes its latency, by route template."""

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            start = perf_counter()
            status = 500

            async def send_and_note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_and_note)
            except (AppError, HTTPException) as error:
                # Litestar turns it into the response outside this middleware: count that status, not 500
                status = error.status_code
                raise
            finally:
                key = (str(scope.get("method", "")), str(scope.get("path_template", "unmatched")), status)
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = self._new_series(*key)
                series[0].inc()
                series[1].observe(perf_counter() - start)

        return measured
