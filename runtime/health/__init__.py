"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations
