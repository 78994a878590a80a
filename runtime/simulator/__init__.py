"""Simulated worker nodes for demos and load tests (``modelhub simulate``): many nodes, one process, no file I/O.

``simulate(config)`` (or ``Simulator(config).run()``) runs ``config.nodes`` virtual nodes in one asyncio
loop with one shared HTTP client. Each registers, heartbeats at its own phase of the interval, and
"downloads" the models the server wants at a configured speed, with optional failures and flapping.
``simulate_main`` is the command line.
"""

from __future__ import annotations

from runtime.simulator._cli import simulate_main
from runtime.simulator._config import SimulatorConfig, SimulatorError
from runtime.simulator._node import ModelProgress, NodePhase, SimNode, manifest_size
from runtime.simulator._run import Simulator, simulate
from runtime.simulator._stats import SimulatorStats, StatsSnapshot

__all__ = [
    "ModelProgress",
    "NodePhase",
    "SimNode",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "SimulatorStats",
    "StatsSnapshot",
    "manifest_size",
    "simulate",
    "simulate_main",
]
