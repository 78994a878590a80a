"""Entry point of ``python -m codegen``."""

from __future__ import annotations

from codegen.cli import main

if __name__ == "__main__":  # not when a worker process re-imports the main module
    raise SystemExit(main())
