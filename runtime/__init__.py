"""The Model Hub runtime: the Litestar service for the catalog and the model lifecycle across nodes."""

from __future__ import annotations
