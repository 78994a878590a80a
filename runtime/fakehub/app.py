"""The fake Hub's composition root: ``create_fake_hub()`` builds the Litestar app, ``run()`` serves it.

Routes (repo ids are ``org/name``, matched in any case):

- ``GET /api/models/{repo_id}`` and ``GET /api/models/{repo_id}/revision/{revision}``: model info
  (``?blobs=true`` adds each file's ``size``, ``blobId`` and ``lfs``, see ``blobs``).
- ``GET /api/models/{repo_id}/tree/{revision}[/{path}]``: the file listing (``?recursive=true``).
- ``GET|HEAD /{repo_id}/resolve/{revision}/{path}``: a file, with ``Range`` support.
- ``GET|PUT|DELETE /_fake/faults`` and ``GET|DELETE /_fake/stats``: the controls (see ``faults``).

Revisions are ``main`` or any 40-hex commit id (every commit holds the same files); others are 404
``RevisionNotFound``. An unknown repo is 401 without an ``Authorization`` header and 404 with one.
A gated repo's metadata is public; its files are 401 ``GatedRepo`` without a token and 403 with one of
``denied_tokens``. ``drift`` faults change what a repo holds (see ``faults.Drift``) and bypass the body cache.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import msgspec
import uvicorn
from litestar import HttpMethod, Litestar, Request, delete, get, put, route
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from litestar.types import ASGIApp

from generated.catalog import CATALOG
from runtime.fakehub.blobs import tree
from runtime.fakehub.faults import ROUTE_KIND, FaultControl, Faults, Stats, fault_middleware
from runtime.fakehub.files import FileResponse, FileSource
from runtime.fakehub.payloads import (
    Fixed,
    entry_not_found,
    error,
    gated,
    gated_denied,
    model_info,
    repo_not_found,
    revision_not_found,
)
from runtime.fakehub.repos import Repo, RepoIndex, fake_sha

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from generated.types import SupportedModel
    from runtime.fakehub.faults import Drift

_COMMIT = re.compile(r"[0-9a-f]{40}")
_TRUE = frozenset({"1", "true"})


def _drifted(repo: Repo, drifts: Sequence[Drift]) -> Repo | None:
    """``repo`` as the drift settings leave it; None when it was deleted."""
    files, digests = dict(repo.files), dict(repo.digests)
    gated, mode, sha = repo.gated, repo.gated_mode, repo.sha
    for drift in drifts:
        if drift.deleted:
            return None
        if drift.file is not None and drift.file in files:
            if drift.size is not None:
                files[drift.file] = drift.size
            if drift.sha256 is not None:
                digests[drift.file] = drift.sha256
            if drift.renamed_to is not None:
                files[drift.renamed_to] = files.pop(drift.file)
                if drift.file in digests:
                    digests[drift.renamed_to] = digests.pop(drift.file)
        if drift.gated is not None:
            gated, mode = True, drift.gated
        if drift.commit is not None:
            sha = drift.commit
        elif drift.file is not None and sha == repo.sha:
            sha = fake_sha(f"{repo.id}@drift")  # an upstream change is a new commit on main
    return replace(repo, files=files, digests=digests, gated=gated, gated_mode=mode, sha=sha)


class FakeHub:
    """The repos, the faults and the statistics of one fake Hub."""

    def __init__(self, repos: RepoIndex) -> None:
        """Serve ``repos``, with no faults."""
        self.repos = repos
        self.control = FaultControl()
        self.stats = Stats()
        self._bodies: dict[tuple[str, str, bool], bytes] = {}

    def lookup(self, repo_id: str) -> tuple[Repo, str] | None:
        """The repo ``repo_id`` names (drift applied) and the id to answer with (a rename's new id: the old repo)."""
        found = self._lookup(repo_id)
        if found is None:
            return None
        repo, served = found
        drifts = self.control.faults.drifts(repo.id)
        if not drifts:
            return found
        drifted = _drifted(repo, drifts)
        return None if drifted is None else (drifted, served)

    def _lookup(self, repo_id: str) -> tuple[Repo, str] | None:
        repo = self.repos.get(repo_id)
        if repo is not None:
            return repo, repo.id
        rename = self.control.faults.rename
        if rename is not None and rename.target.casefold() == repo_id.casefold():
            source = self.repos.get(rename.source)
            if source is not None:
                return source, rename.target
        return None

    def resolves(self, repo: Repo, revision: str) -> bool:
        """Whether ``revision`` names a commit of ``repo``: ``main``, or any commit id unless a drift forgot them."""
        if revision == "main":
            return True
        if not _COMMIT.fullmatch(revision):
            return False
        forgotten = any(drift.forget_revisions for drift in self.control.faults.drifts(repo.id))
        return not forgotten or revision == repo.sha

    def model_info(self, repo_id: str, revision: str | None, *, authorized: bool, blobs: bool = False) -> ASGIApp:
        """The model-info answer for ``repo_id`` (at ``revision``; with file metadata when ``blobs``)."""
        found = self.lookup(repo_id)
        if found is None:
            return repo_not_found(authorized=authorized)
        repo, served = found
        if revision is not None and not self.resolves(repo, revision):
            return revision_not_found(revision)
        if revision is not None and revision != "main":
            return Fixed(model_info(repo, repo_id=served, revision=revision, blobs=blobs))
        if self.control.faults.drifts(repo.id):
            return Fixed(model_info(repo, repo_id=served, blobs=blobs))
        body = self._bodies.get((repo.id, served, blobs))
        if body is None:
            body = self._bodies[repo.id, served, blobs] = model_info(repo, repo_id=served, blobs=blobs)
        return Fixed(body)

    def tree(self, repo_id: str, revision: str, path: str, *, authorized: bool, recursive: bool) -> ASGIApp:
        """The ``/tree/`` answer: a JSON array of file and directory entries."""
        found = self.lookup(repo_id)
        if found is None:
            return repo_not_found(authorized=authorized)
        repo, _ = found
        if not self.resolves(repo, revision):
            return revision_not_found(revision)
        entries = tree(repo, path, recursive=recursive)
        if entries is None:
            return entry_not_found()
        return Fixed(msgspec.json.encode(entries))

    def resolve(
        self,
        repo_id: str,
        revision: str,
        path: str,
        *,
        authorized: bool,
        head: bool,
        range_header: str | None,
        authorization: str | None = None,
    ) -> ASGIApp:
        """The answer to a download of ``path`` from ``repo_id`` at ``revision``."""
        found = self.lookup(repo_id)
        if found is None:
            return repo_not_found(authorized=authorized)
        repo, served = found
        if not self.resolves(repo, revision):
            return revision_not_found(revision)
        if repo.gated and not authorized:
            return gated(served)
        denied = {f"Bearer {token}" for token in self.control.faults.denied_tokens}
        if repo.gated and authorization in denied:
            return gated_denied(served)
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


def _blobs(request: Request[Any, Any, Any]) -> bool:
    return request.query_params.get("blobs", "false").lower() in _TRUE


@get("/api/models/{org:str}/{name:str}", opt={ROUTE_KIND: "api"}, operation_id="fakeModelInfo", sync_to_thread=False)
def model_info_route(
    org: FromPath[str], name: FromPath[str], hub: NamedDependency[FakeHub], request: Request[Any, Any, Any]
) -> ASGIApp:
    """Model info at ``main``."""
    return hub.model_info(f"{org}/{name}", None, authorized=_authorized(request), blobs=_blobs(request))


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
    return hub.model_info(f"{org}/{name}", revision, authorized=_authorized(request), blobs=_blobs(request))


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
        authorization=request.headers.get("authorization"),
    )


def _tree(org: str, name: str, revision: str, path: str, hub: FakeHub, request: Request[Any, Any, Any]) -> ASGIApp:
    recursive = request.query_params.get("recursive", "false").lower() in _TRUE
    return hub.tree(f"{org}/{name}", revision, path, authorized=_authorized(request), recursive=recursive)


@get(
    "/api/models/{org:str}/{name:str}/tree/{revision:str}",
    opt={ROUTE_KIND: "api"},
    operation_id="fakeTree",
    sync_to_thread=False,
)
def tree_route(
    org: FromPath[str],
    name: FromPath[str],
    revision: FromPath[str],
    hub: NamedDependency[FakeHub],
    request: Request[Any, Any, Any],
) -> ASGIApp:
    """The files at the root of a revision (``?recursive=true``: all of them)."""
    return _tree(org, name, revision, "", hub, request)


@get(
    "/api/models/{org:str}/{name:str}/tree/{revision:str}/{folder:path}",
    opt={ROUTE_KIND: "api"},
    operation_id="fakeTreeFolder",
    sync_to_thread=False,
)
def tree_folder_route(
    org: FromPath[str],
    name: FromPath[str],
    revision: FromPath[str],
    folder: FromPath[str],
    hub: NamedDependency[FakeHub],
    request: Request[Any, Any, Any],
) -> ASGIApp:
    """The files in one folder of a revision."""
    return _tree(org, name, revision, folder.lstrip("/"), hub, request)


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
            tree_route,
            tree_folder_route,
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
