"""The dashboard's built files (``ui/dist``, written by ``just build``), served at ``/``; no Node at run time.

``/``, ``/local`` and ``/nodes`` (the dashboard's views) answer with ``index.html``, which is never
cached, so a new build is picked up on the next load; ``/assets/*`` are content-hashed by Vite and
cached for a year. When the dashboard has not been built, the view routes answer 503 with the
command that builds it, rather than a blank page. The files are public, like any web page's; every
call they make needs a token.

``/docs-assets/*`` are Swagger UI's script, preset and stylesheet (the npm package ``swagger-ui-dist``,
pinned in ui/package.json, copied into ``ui/dist/docs-assets`` by the build), which the API docs page at
``/schema`` (:func:`api_docs`) loads instead of a CDN's, so that it works on a network without internet.
Their names carry no hash, so they are cached for a day, not a year: a new version is picked up by the next day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import HttpMethod, MediaType, Response, Router, route
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from runtime.errors import error_response

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["DOCS_ASSETS", "VIEWS", "api_docs", "dashboard_router"]

#: The dashboard's client-side routes (ui/src/App.tsx).
VIEWS = ("/", "/local", "/nodes")
_NO_CACHE = {"Cache-Control": "no-cache"}
#: Where Swagger UI's files are served (from ``ui/dist/docs-assets``, see ui/scripts/copy-docs-assets.mjs).
DOCS_ASSETS = "/docs-assets"


def api_docs() -> SwaggerRenderPlugin:
    """Swagger UI at ``/schema`` (and ``/schema/swagger``) with its files from :data:`DOCS_ASSETS`, not a CDN.

    The page embeds the OpenAPI document, so it fetches nothing but those three files; the favicon is an
    empty ``data:`` URL (Litestar's default is on a CDN), and Swagger UI's validator badge, the one part
    that would call validator.swagger.io, is only in the standalone layout, which Litestar does not use.
    """
    return SwaggerRenderPlugin(
        js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
        favicon="<link rel='icon' href='data:,'>",
        path=["/", "/swagger"],
    )


def dashboard_router(directory: Path) -> Router:
    """Routes for the views and the assets of the dashboard built into ``directory``."""
    index = directory / "index.html"

    @route(
        list(VIEWS),
        http_method=[HttpMethod.GET, HttpMethod.HEAD],  # HEAD: the GET's status and headers, no body
        include_in_schema=False,
        media_type=MediaType.HTML,
        sync_to_thread=False,
    )
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
    docs_assets = create_static_files_router(
        path=DOCS_ASSETS,
        directories=[directory / "docs-assets"],
        name="docs_assets",
        cache_control=CacheControlHeader(max_age=86_400, public=True),
    )
    return Router(path="/", route_handlers=[view, assets, docs_assets])
