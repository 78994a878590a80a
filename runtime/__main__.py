"""``python -m runtime``: the same as the ``modelhub`` command."""

from __future__ import annotations

from runtime.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
