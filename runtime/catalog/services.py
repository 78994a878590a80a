"""The catalog as the API serves it: the hub list, manifests, and the OpenAI-compatible model list.

``GET /v0/models/hub`` is the hot path. Its body is kept pre-encoded, one fragment per catalog
model, and rebuilt only for models whose lifecycle changed; a query joins the matching fragments.
Fragments are re-encoded on the first read after a change, so a burst of heartbeats costs one
encoding. The ETag is a hash of the body, so a client's cached copy stays valid until
something it shows changes.
"""

from __future__ import annotations

import gzip
import hashlib
from typing import TYPE_CHECKING

import msgspec

from generated.types import HubItem, ModelDetail, ModelManifest, ModelStatus, OpenAiModel, OpenAiModelList
from runtime.catalog.manifests import manifest
from runtime.hf.services import key_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from generated.types import HfInfo, SupportedModel
    from runtime.hf.cache import Key
    from runtime.hf.services import HfStatsService
    from runtime.lifecycle.service import Change, LifecycleService

_encoder = msgspec.json.Encoder()


def etag_of(body: bytes) -> bytes:
    """A strong ETag for a body."""
    return b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'


def hub_item(model: SupportedModel, lifecycle: LifecycleService, hf_info: HfInfo | None) -> HubItem:
    """A catalog model merged with its lifecycle aggregates and Hugging Face stats."""
    aggregate = lifecycle.aggregate(model.id)
    return HubItem(
        **msgspec.structs.asdict(model),
        status=aggregate.status,
        progress=aggregate.progress,
        node_counts=aggregate.node_counts,
        bytes_done=aggregate.bytes_done,
        bytes_total=aggregate.bytes_total,
        hf_info=hf_info,
    )


class HubCache:
    """Pre-encoded hub items, refreshed per model when the lifecycle reports a change."""

    def __init__(self, lifecycle: LifecycleService, hf: HfStatsService | None = None) -> None:
        """Encode every item of the lifecycle's catalog once; ``on_change`` and ``on_hf`` keep them current."""
        self.lifecycle = lifecycle
        self.hf = hf
        self.catalog: Sequence[SupportedModel] = list(lifecycle.catalog.values())
        self._index = {model.id: position for position, model in enumerate(self.catalog)}
        self._search = [" ".join((model.name, model.description, *model.tags)).casefold() for model in self.catalog]
        self._fragments = [self._encode(model) for model in self.catalog]
        self._bodies: dict[str, tuple[bytes, bytes]] = {}
        self._gzipped: dict[bytes, tuple[bytes, bytes]] = {}  # identity ETag -> gzipped body and its ETag
        self._stale: set[str] = set()
        self._by_key: dict[Key, list[str]] = {}
        for model in self.catalog:
            self._by_key.setdefault(key_of(model), []).append(model.id)

    def models_of(self, keys: Iterable[Key]) -> list[str]:
        """The catalog models whose Hugging Face stats live under ``keys``."""
        return [model_id for key in keys for model_id in self._by_key.get(key, [])]

    def _hf_info(self, model: SupportedModel) -> HfInfo | None:
        return self.hf.info(key_of(model)) if self.hf is not None else None

    def _encode(self, model: SupportedModel) -> bytes:
        return _encoder.encode(hub_item(model, self.lifecycle, self._hf_info(model)))

    def on_change(self, change: Change) -> None:
        """A lifecycle listener: the models whose aggregates changed are re-encoded on the next read."""
        self._mark(change.models)

    def on_hf(self, keys: set[Key]) -> None:
        """A Hugging Face stats listener: the models under ``keys`` show new stats."""
        self._mark(self.models_of(keys))

    def _mark(self, model_ids: Iterable[str]) -> None:
        # Re-encoding waits for the next read: a burst of heartbeats costs one encoding, not one each.
        before = len(self._stale)
        self._stale.update(model_ids)
        if len(self._stale) != before:
            self._bodies.clear()
            self._gzipped.clear()

    def _refresh(self) -> None:
        for model_id in self._stale:
            position = self._index.get(model_id)
            if position is not None:
                self._fragments[position] = self._encode(self.catalog[position])
        self._stale.clear()

    def body(self, query: str | None = None) -> tuple[bytes, bytes]:
        """The hub JSON array (filtered by ``query`` when given) and its ETag.

        A query matches a model when every word of it occurs in the model's name, description or
        tags, ignoring case.
        """
        if self._stale:
            self._refresh()
        key = " ".join((query or "").casefold().split())
        cached = self._bodies.get(key)
        if cached is None:
            words = key.split()
            chosen = [
                fragment
                for fragment, haystack in zip(self._fragments, self._search, strict=True)
                if all(word in haystack for word in words)
            ]
            body = b"[" + b",".join(chosen) + b"]"
            cached = (body, etag_of(body))
            if len(self._bodies) < 256:  # bounded: arbitrary queries must not grow memory
                self._bodies[key] = cached
        return cached

    def gzipped(self, query: str | None = None) -> tuple[bytes, bytes]:
        """``body`` gzipped (level 6), and that representation's own ETag; compressed once per change.

        The hub is read far more often than it changes, so it is compressed once, not per request as
        the compression middleware would.
        """
        body, etag = self.body(query)
        cached = self._gzipped.get(etag)
        if cached is None:
            cached = (gzip.compress(body, compresslevel=6, mtime=0), etag[:-1] + b'-gzip"')
            if len(self._gzipped) < 256:
                self._gzipped[etag] = cached
        return cached

    def fragment(self, model_id: str) -> bytes:
        """One hub item, pre-encoded, as it is now."""
        if self._stale:
            self._refresh()
        return self._fragments[self._index[model_id]]

    def item(self, model_id: str) -> HubItem:
        """One hub item, as it is now (for the answer to register)."""
        model = self.catalog[self._index[model_id]]
        return hub_item(model, self.lifecycle, self._hf_info(model))

    def hf_info(self, model_id: str) -> HfInfo | None:
        """What the hub shows of a model's Hugging Face stats now."""
        return self._hf_info(self.catalog[self._index[model_id]])

    def detail(self, model_id: str) -> ModelDetail:
        """One hub item with every node's report on the model (GET /v0/models/{model_id})."""
        item = self.item(model_id)
        return ModelDetail(**msgspec.structs.asdict(item), nodes=self.lifecycle.model_rows(model_id))


class ManifestCache:
    """The registered models' manifests, encoded once per change of the registered set."""

    def __init__(self, lifecycle: LifecycleService, endpoint: str) -> None:
        """Build the manifests now; ``on_change`` rebuilds them when a model is registered or removed."""
        self.lifecycle = lifecycle
        self.endpoint = endpoint
        self.manifests: list[ModelManifest] = []
        self.encoded = b"[]"
        self.retained = b"[]"
        """Orphaned registrations (JSON): nodes keep their files until an admin deletes them."""
        self._rebuild()

    def _rebuild(self) -> None:
        catalog = self.lifecycle.catalog
        self.manifests = [manifest(catalog[model_id], self.endpoint) for model_id in self.lifecycle.registered_ids()]
        self.encoded = _encoder.encode(self.manifests)
        self.retained = _encoder.encode(self.lifecycle.orphaned_ids())

    def on_change(self, change: Change) -> None:
        """A lifecycle listener."""
        if change.registrations:
            self._rebuild()


def openai_models(lifecycle: LifecycleService) -> OpenAiModelList:
    """Models ready on at least one online node, as the OpenAI API lists them."""
    data = []
    for model_id in lifecycle.registered_ids():
        model = openai_model(lifecycle, model_id)
        if model is not None:
            data.append(model)
    return OpenAiModelList(object="list", data=data)


def openai_model(lifecycle: LifecycleService, model_id: str) -> OpenAiModel | None:
    """One model as the OpenAI API shows it, or None unless it is ready on an online node."""
    registration = lifecycle.registration(model_id)
    if registration is None or lifecycle.status(model_id) != ModelStatus.ready:
        return None
    owner = lifecycle.catalog[model_id].repo.split("/", 1)[0]
    return OpenAiModel(id=model_id, object="model", created=int(registration.registered_at.timestamp()), owned_by=owner)
