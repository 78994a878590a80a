"""Entry point of ``python -m codegen``."""

from __future__ import annotations

from codegen.cli import main

raise SystemExit(main())
