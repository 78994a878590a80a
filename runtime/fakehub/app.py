"""The fake Hub's composition root: ``create_fake_hub()`` builds the Litestar app, ``run()`` serves it.

Routes (repo ids are ``org/name``, matched in any case):

- ``GET /api/models/{repo_id}`` and ``GET /api/models/{repo_id}/revision/{revision}``: model info.
- ``GET|HEAD /{repo_id}/resolve/{revision}/{path}``: a file, with ``Range`` support.
- ``GET|PUT|DELETE /_fake/faults`` and ``GET|DELETE /_fake/stats``: the controls (see ``faults``).

Revisions are ``main`` or any 40-hex commit id (every commit holds the same files); others are 404
``RevisionNotFound``. An unknown repo is 401 without an ``Authorization`` header and 404 with one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec
import uvicorn
from litestar import HttpMethod, Litestar, Request, delete, get, put, route
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.types import ASGIApp

from generated.catalog import CATALOG
from runtime.fakehub.faults import ROUTE_KIND, FaultControl, Faults, Stats, fault_middleware
from runtime.fakehub.files import FileResponse, FileSource
from runtime.fakehub.payloads import (
    Fixed,
    entry_not_found,
    error,
    gated,
    model_info,
    repo_not_found,
    revision_not_found,
)
from runtime.fakehub.repos import Repo, RepoIndex

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from generated.types import SupportedModel

_COMMIT = re.compile(r"[0-9a-f]{40}")


class FakeHub:
    """The repos, the faults and the statistics of one fake Hub."""

    def __init__(self, repos: RepoIndex) -> None:
        """Serve ``repos``, with no faults."""
        self.repos = repos
        self.control = FaultControl()
        self.stats = Stats()
        self._bodies: dict[tuple[str, str], bytes] = {}

    def lookup(self, repo_id: str) -> tuple[Repo, str] | None:
        """The repo ``repo_id`` names and the id to answer with: a rename's new id serves the old repo."""
        repo = self.repos.get(repo_id)
        if repo is not None:
            return repo, repo.id
        rename = self.control.faults.rename
        if rename is not None and rename.target.casefold() == repo_id.casefold():
            source = self.repos.get(rename.source)
            if source is not None:
                return source, rename.target
        return None

    def model_info(self, repo_id: str, revision: str | None, *, authorized: bool) -> ASGIApp:
        """The model-info answer for ``repo_id`` (at ``revision``)."""
        found = self.lookup(repo_id)
        if found is None:
            return repo_not_found(authorized=authorized)
        if revision is not None and revision != "main" and not _COMMIT.fullmatch(revision):
            return revision_not_found(revision)
        repo, served = found
        if revision is not None and revision != "main":
            return Fixed(model_info(repo, repo_id=served, revision=revision))
        body = self._bodies.get((repo.id, served))
        if body is None:
            body = self._bodies[repo.id, served] = model_info(repo, repo_id=served)
        return Fixed(body)

    def resolve(
        self, repo_id: str, revision: str, path: str, *, authorized: bool, head: bool, range_header: str | None
    ) -> ASGIApp:
        """The answer to a download of ``path`` from ``repo_id`` at ``revision``."""
        found = self.lookup(repo_id)
        if found is None:
            return repo_not_found(authorized=authorized)
        repo, served = found
        if revision != "main" and not _COMMIT.fullmatch(revision):
            return revision_not_found(revision)
        if repo.gated and not authorized:
            return gated(served)
        size = repo.files.get(path)
        if size is None:
            return entry_not_found()
        commit = revision if revision != "main" else repo.sha
        return FileResponse(
            FileSource(repo.id, path, size, repo.contents.get(path)),
            range_header=range_header,
            head=head,
            headers=[(b"x-repo-commit", commit.encode())],
            corrupt_at=self.control.faults.corrupt_offset(repo_id),
        )


def _authorized(request: Request[Any, Any, Any]) -> bool:
    return "authorization" in request.headers


@get("/api/models/{org:str}/{name:str}", opt={ROUTE_KIND: "api"}, operation_id="fakeModelInfo", sync_to_thread=False)
def model_info_route(
    org: FromPath[str], name: FromPath[str], hub: NamedDependency[FakeHub], request: Request[Any, Any, Any]
) -> ASGIApp:
    """Model info at ``main``."""
    return hub.model_info(f"{org}/{name}", None, authorized=_authorized(request))


@get(
    "/api/models/{org:str}/{name:str}/revision/{revision:str}",
    opt={ROUTE_KIND: "api"},
    operation_id="fakeModelInfoAtRevision",
    sync_to_thread=False,
)
def model_info_revision_route(
    org: FromPath[str],
    name: FromPath[str],
    revision: FromPath[str],
    hub: NamedDependency[FakeHub],
    request: Request[Any, Any, Any],
) -> ASGIApp:
    """Model info at a revision."""
    return hub.model_info(f"{org}/{name}", revision, authorized=_authorized(request))


@route(
    "/{org:str}/{name:str}/resolve/{revision:str}/{file_path:path}",
    http_method=[HttpMethod.GET, HttpMethod.HEAD],
    opt={ROUTE_KIND: "resolve"},
    operation_id="fakeResolve",
    sync_to_thread=False,
)
def resolve_route(
    org: FromPath[str],
    name: FromPath[str],
    revision: FromPath[str],
    file_path: FromPath[str],
    hub: NamedDependency[FakeHub],
    request: Request[Any, Any, Any],
) -> ASGIApp:
    """A file, or a byte range of it."""
    return hub.resolve(
        f"{org}/{name}",
        revision,
        file_path.lstrip("/"),
        authorized=_authorized(request),
        head=request.method == HttpMethod.HEAD,
        range_header=request.headers.get("range"),
    )


@get("/_fake/faults", operation_id="fakeGetFaults", sync_to_thread=False)
def get_faults(hub: NamedDependency[FakeHub]) -> ASGIApp:
    """The current faults."""
    return Fixed(msgspec.json.encode(hub.control.faults))


@put("/_fake/faults", operation_id="fakePutFaults")
async def put_faults(hub: NamedDependency[FakeHub], request: Request[Any, Any, Any]) -> ASGIApp:
    """Replace every fault (and release hanging requests); 400 names what is wrong."""
    try:
        faults = msgspec.json.decode(await request.body(), type=Faults)
    except msgspec.DecodeError as problem:
        return error(400, str(problem))
    hub.control.replace(faults)
    return Fixed(msgspec.json.encode(faults))


@delete("/_fake/faults", operation_id="fakeClearFaults", sync_to_thread=False)
def clear_faults(hub: NamedDependency[FakeHub]) -> None:
    """No more faults; hanging requests go on."""
    hub.control.replace(Faults())


@get("/_fake/stats", operation_id="fakeGetStats", sync_to_thread=False)
def get_stats(hub: NamedDependency[FakeHub]) -> ASGIApp:
    """Request counts and the last Authorization header."""
    return Fixed(msgspec.json.encode(hub.stats.as_json()))


@delete("/_fake/stats", operation_id="fakeResetStats", sync_to_thread=False)
def reset_stats(hub: NamedDependency[FakeHub]) -> None:
    """Start counting again."""
    hub.stats.reset()


def create_fake_hub(
    catalog: Sequence[SupportedModel] = CATALOG, extra_files: Mapping[str, Mapping[str, int]] | None = None
) -> Litestar:
    """Build a fake Hub serving the repos of ``catalog``, the recorded fixtures, and ``extra_files``.

    Args:
        catalog: The models whose repos and files to serve.
        extra_files: More files, ``{repo: {path: size}}`` (new repos are created), e.g. small ones for tests.

    Returns:
        The app; ``app.state.fakehub`` is its ``FakeHub``.
    """
    hub = FakeHub(RepoIndex.build(catalog, extra_files))
    app = Litestar(
        route_handlers=[
            model_info_route,
            model_info_revision_route,
            resolve_route,
            get_faults,
            put_faults,
            clear_faults,
            get_stats,
            reset_stats,
        ],
        dependencies={"hub": Provide(lambda: hub, sync_to_thread=False)},
        middleware=[fault_middleware(hub.control, hub.stats)],
        openapi_config=None,
    )
    app.state.fakehub = hub
    return app


def run(host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve a fake Hub for the whole catalog with uvicorn until interrupted (``modelhub fake-hub``)."""
    uvicorn.run(
        create_fake_hub(), host=host, port=port, log_level="info", access_log=False, timeout_graceful_shutdown=2
    )
