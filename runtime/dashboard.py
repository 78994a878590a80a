"""The dashboard's built files (``ui/dist``, written by ``just build``), served at ``/``; no Node at run time.

``/``, ``/local`` and ``/nodes`` (the dashboard's views) answer with ``index.html``, which is never
cached, so a new build is picked up on the next load; ``/assets/*`` are content-hashed by Vite and
cached for a year. When the dashboard has not been built, the view routes answer 503 with the
command that builds it, rather than a blank page. The files are public, like any web page's; every
call they make needs a token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import MediaType, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from runtime.errors import error_response

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["VIEWS", "dashboard_router"]

#: The dashboard's client-side routes (ui/src/App.tsx).
VIEWS = ("/", "/local", "/nodes")
_NO_CACHE = {"Cache-Control": "no-cache"}


def dashboard_router(directory: Path) -> Router:
    """Routes for the views and the assets of the dashboard built into ``directory``."""
    index = directory / "index.html"

    @get(list(VIEWS), include_in_schema=False, media_type=MediaType.HTML, sync_to_thread=False)
    def view() -> Response[bytes]:
        try:
            page = index.read_bytes()
        except FileNotFoundError:
            return error_response(
                503, "dashboard_not_built", f"The dashboard is not built ({index} is missing); run `just build`."
            )
        return Response(page, media_type=MediaType.HTML, headers=_NO_CACHE)

    assets = create_static_files_router(
        path="/assets",
        directories=[directory / "assets"],
        name="dashboard_assets",
        cache_control=CacheControlHeader(max_age=31_536_000, public=True),
    )
    return Router(path="/", route_handlers=[view, assets])
