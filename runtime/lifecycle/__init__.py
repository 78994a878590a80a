"""The lifecycle domain: registrations, nodes and their reports (the service, its pure rules, the node routes)."""

from __future__ import annotations
