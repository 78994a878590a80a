"""One simulated node as a pure state machine: no I/O, no clock, every random choice from its own generator.

The runner drives it: ``step(elapsed)`` before a heartbeat, ``heartbeat()`` for the body, ``apply(models)``
with the desired set from the answer. Given the same seed, answers and elapsed times, a node produces
the same heartbeats, which is what makes a run reproducible.

Per model: a model that appears in the desired set is reported ``pending`` once, then ``downloading``
with ``bytes_done`` growing at the configured speed, then ``ready`` when every byte is there. A download
in flight fails with probability ``failure_rate`` per heartbeat: it is reported ``failed`` (bytes kept,
an error message set), and on the next heartbeat it restarts at 0 as ``downloading`` (the server allows
failed -> downloading; a plain step back while downloading would be refused).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from generated.catalog import CATALOG_BY_ID
from generated.types import Heartbeat, HeartbeatModelReport, NodeMetrics, NodeModelState, NodeRegistration

if TYPE_CHECKING:
    from collections.abc import Sequence

    from generated.types import ModelManifest
    from runtime.simulator._config import SimulatorConfig

#: How a sharded safetensors index is named (as ``runtime.agent.shards`` knows it).
INDEX_SUFFIX = ".safetensors.index.json"
#: GPU sizes a simulated GPU node picks from.
_GPU_SIZES = (24 * 2**30, 48 * 2**30, 80 * 2**30)


class NodePhase(enum.StrEnum):
    """Where a simulated node is, as the simulator sees it (the server's status once it has answered)."""

    starting = "starting"
    """Not registered yet."""
    pending = "pending"
    """Registered; its heartbeats get 403 until an admin approves it."""
    registering = "registering"
    """Approved, no heartbeat accepted yet (the server's status)."""
    online = "online"
    """Heartbeating (the server's status), whether or not it holds every registered model yet."""
    silent = "silent"
    """Flapping: sends nothing for a while, so the server marks it offline."""


@dataclass(slots=True)
class ModelProgress:
    """One model's download on one node."""

    state: NodeModelState
    bytes_done: int
    bytes_total: int
    error: str | None = None
    fresh: bool = True
    """Not reported yet: the next step leaves it ``pending`` so the server sees that state once."""


def manifest_size(manifest: ModelManifest, unknown_size_bytes: int) -> int:
    """Bytes to fetch for a model: every file a real node fetches for it, as the node agent counts them.

    A file counts its ``size_bytes``. A sharded safetensors index has none in the manifest, which lists
    neither its shards: a real node reads the shards from the index and their sizes from the Hub, so the
    simulator counts the catalog's ``size_bytes`` of the model (the index and all its shards). Any other
    file without a size (an artifact, a model this release's catalog does not know) counts
    ``unknown_size_bytes``.
    """
    model = CATALOG_BY_ID.get(manifest.model_id)
    total = 0
    for file in manifest.files:
        if isinstance(file.size_bytes, int):
            total += file.size_bytes
        elif model is not None and file.name == model.recommended_filename and file.name.endswith(INDEX_SUFFIX):
            total += model.size_bytes
        else:
            total += unknown_size_bytes
    return total


class SimNode:
    """One virtual node: its identity, its models' progress and its metrics."""

    def __init__(self, index: int, config: SimulatorConfig, seed: int) -> None:
        """Node ``index`` of a run; ``seed`` is the run's seed (each node derives its own generator from it)."""
        self.index = index
        self.config = config
        self.rng = random.Random(f"{seed}:{index}")  # a str seed is hashed with SHA-512: stable across runs
        self.runtime_id = f"{config.runtime_id_prefix}-{index:04d}"
        self.machine_name = f"{self.runtime_id}.sim.invalid"
        self.gpu_memory_bytes = self.rng.choice(_GPU_SIZES) if config.gpu else None
        self.phase = NodePhase.starting
        self.models: dict[str, ModelProgress] = {}
        self._cpu = self.rng.uniform(0.05, 0.4)
        self._memory = self.rng.uniform(0.2, 0.5)
        self._gpu = self.rng.uniform(0.0, 0.3)

    def registration(self) -> NodeRegistration:
        """The body of ``POST /v0/nodes``."""
        gpu = self.gpu_memory_bytes if self.gpu_memory_bytes is not None else msgspec.UNSET
        return NodeRegistration(runtime_id=self.runtime_id, machine_name=self.machine_name, gpu_memory_bytes=gpu)

    def flaps(self) -> bool:
        """Roll for going silent at this heartbeat."""
        return self.config.flap_rate > 0 and self.rng.random() < self.config.flap_rate

    def flap_seconds(self) -> float:
        """How long this silence lasts: ``flap_seconds`` plus up to 10 %."""
        return self.config.flap_seconds * self.rng.uniform(1.0, 1.1)

    def step(self, elapsed: float) -> None:
        """Advance every download by ``elapsed`` seconds, rolling for failures first."""
        config = self.config
        for model_id in sorted(self.models):  # a fixed order of random draws, whatever the answer's order
            progress = self.models[model_id]
            if progress.fresh:
                progress.fresh = False
            elif progress.state in (NodeModelState.pending, NodeModelState.failed):
                progress.state, progress.bytes_done, progress.error = NodeModelState.downloading, 0, None
            elif progress.state == NodeModelState.downloading:
                if config.failure_rate > 0 and self.rng.random() < config.failure_rate:
                    progress.state = NodeModelState.failed
                    progress.error = f"simulated failure: connection reset after {progress.bytes_done} bytes"
                    continue
                done = progress.bytes_done + int(config.speed_bytes_per_s * elapsed)
                if done >= progress.bytes_total:
                    progress.state, progress.bytes_done = NodeModelState.ready, progress.bytes_total
                else:
                    progress.bytes_done = done

    def heartbeat(self) -> Heartbeat:
        """The body of the next heartbeat: fresh metrics and one report per model the node knows."""
        reports = [
            HeartbeatModelReport(
                model_id=model_id,
                state=progress.state,
                bytes_done=progress.bytes_done,
                bytes_total=progress.bytes_total,
                error=progress.error if progress.error is not None else msgspec.UNSET,
            )
            for model_id, progress in self.models.items()
        ]
        return Heartbeat(metrics=self.metrics(), models=reports)

    def metrics(self) -> NodeMetrics:
        """Plausible usage: slow random walks, busier while downloading or serving; GPU fields only with a GPU."""
        rng = self.rng
        downloading = sum(p.state == NodeModelState.downloading for p in self.models.values())
        ready = sum(p.state == NodeModelState.ready for p in self.models.values())
        self._cpu = _walk(self._cpu, rng.gauss(0.0, 0.04) + 0.02 * downloading - 0.01)
        self._memory = _walk(self._memory, rng.gauss(0.0, 0.01))
        active = rng.randint(0, 4 * ready) if ready else 0
        if self.gpu_memory_bytes is None:
            return NodeMetrics(
                cpu_usage=round(self._cpu, 3), memory_usage=round(self._memory, 3), active_requests=active
            )
        self._gpu = _walk(self._gpu, rng.gauss(0.0, 0.05) + (0.05 if active else -0.05))
        used = int(self.gpu_memory_bytes * min(1.0, 0.1 * ready + 0.3 * self._gpu))
        return NodeMetrics(
            cpu_usage=round(self._cpu, 3),
            memory_usage=round(self._memory, 3),
            gpu_usage=round(self._gpu, 3),
            gpu_memory_used_bytes=used,
            active_requests=active,
        )

    def apply(self, desired: Sequence[ModelManifest]) -> None:
        """Make the desired set the truth: add new models as ``pending``, drop the ones no longer desired.

        A model whose size changed (a new manifest) starts again.
        """
        sizes = {manifest.model_id: manifest_size(manifest, self.config.unknown_size_bytes) for manifest in desired}
        for model_id in [model_id for model_id in self.models if model_id not in sizes]:
            del self.models[model_id]
        for model_id, size in sizes.items():
            known = self.models.get(model_id)
            if known is None or known.bytes_total != size:
                self.models[model_id] = ModelProgress(NodeModelState.pending, 0, size)

    def resync(self, reason: str) -> None:
        """Report every model ``failed`` (reachable from every state) so the next step restarts them.

        For a node whose reports the server refused as going backwards, e.g. a rerun of the simulator
        with the same runtime ids against a server that remembers the last run.
        """
        for progress in self.models.values():
            progress.state, progress.error, progress.fresh = NodeModelState.failed, reason, False


def _walk(value: float, delta: float) -> float:
    """A random walk kept within 0.01..0.99."""
    return min(0.99, max(0.01, value + delta))
