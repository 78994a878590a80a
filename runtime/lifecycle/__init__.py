"""The nodes domain: the lifecycle service and the node routes."""

from __future__ import annotations
