"""Propose a catalog entry from what the Hub states about a repository, and append it to catalog text.

Facts come from the Hub only: ``size_bytes`` (the file, or a safetensors index plus its shards), ``sha256``
(the file's LFS metadata; none for a sharded model), ``revision`` (the commit the Hub answered), the licence
(``cardData.license``), the parameter count (``gguf.total``, else ``safetensors.total``), the context length
(``gguf.context_length``) and the quantization (the file name's quant tag). ``id``, ``name`` and
``description`` are proposals made from the names; ``required_memory_bytes`` is the catalog's convention,
1.5 times ``size_bytes``; ``tags`` start empty and ``platforms`` absent. Nothing else is guessed.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from codegen import source_map

if TYPE_CHECKING:
    from codegen.repo_info import RepoInfo

_QUANT = re.compile(r"(?<![A-Za-z0-9])(I?Q[1-8](?:_[A-Za-z0-9]+)*|BF16|F16|F32|MXFP4)(?![A-Za-z0-9])", re.IGNORECASE)
_SLUG_JUNK = re.compile(r"[^a-z0-9._-]+")
_SLUG_SEPARATORS = re.compile(r"[._-]{2,}")
_CAPABILITIES = {
    "text-generation": ["TextGeneration"],
    "image-text-to-text": ["TextGeneration", "Vision"],
    "feature-extraction": ["Embedding"],
    "sentence-similarity": ["Embedding"],
    "automatic-speech-recognition": ["SpeechToText"],
    "text-to-speech": ["TextToSpeech"],
    "text-to-image": ["ImageGeneration"],
}


def quantization(path: str) -> str | None:
    """The quant tag in a file name (``Q4_K_M``, ``IQ4_XS``, ``F16``…), upper-case; the last one wins."""
    stem = path.rpartition("/")[2].removesuffix(".gguf").removesuffix(".safetensors")
    found = _QUANT.findall(stem)
    return found[-1].upper() if found else None


def parameter_text(count: int) -> str:
    """A parameter count as the catalog writes it: ``0.6B``, ``7.2B``, ``350M``."""
    if count >= 10**8:
        return f"{count / 10**9:.1f}".rstrip("0").rstrip(".") + "B"
    if count >= 10**6:
        return f"{round(count / 10**6)}M"
    return f"{max(1, round(count / 10**3))}K"


def slug(text: str) -> str:
    """A model id from a name: lower case, runs of other characters become ``-``, at most 64 characters."""
    value = _SLUG_SEPARATORS.sub(lambda m: m.group(0)[0], _SLUG_JUNK.sub("-", text.lower()))
    return value[:64].strip("._-") or "model"


def _positive(value: Any) -> int | None:
    return value if type(value) is int and value > 0 else None


def _dig(payload: dict[str, Any], *keys: str) -> Any:
    value: Any = payload
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def propose(info: RepoInfo, path: str, model_id: str | None = None) -> dict[str, Any]:
    """The entry for ``path`` of the repository ``info`` describes (``path`` must be one of its files)."""
    parts = info.parts(path) or []
    size = sum(part.size or 0 for part in parts)
    gguf = path.endswith(".gguf")
    quant = quantization(path) if gguf else None
    base = info.repo.partition("/")[2]
    base = re.sub(r"[-_.]gguf$", "", base, flags=re.IGNORECASE)
    name = base.replace("_", " ").replace("-", " ") + (f" ({quant})" if quant else "")
    stem = path.rpartition("/")[2].removesuffix(".gguf")
    kind = f"{quant} GGUF" if quant else ("GGUF" if gguf else "safetensors")
    payload = info.payload
    pipeline = payload.get("pipeline_tag")
    entry: dict[str, Any] = {
        "id": model_id or slug(stem if gguf else base),
        "name": name[:120],
        "description": f"{base.replace('_', ' ')} as {kind} weights from the Hugging Face repository {info.repo}.",
        "repo": info.repo,
        "recommended_filename": path,
        "size_bytes": size,
        "required_memory_bytes": size * 3 // 2,
        "tags": [],
        "capabilities": _CAPABILITIES.get(pipeline, ["TextGeneration"])
        if isinstance(pipeline, str)
        else ["TextGeneration"],
        "format": "gguf" if gguf else "safetensors",
    }
    if info.sha is not None:
        entry["revision"] = info.sha
    if quant is not None:
        entry["quantization"] = quant
    parameters = _positive(_dig(payload, "gguf", "total")) or _positive(_dig(payload, "safetensors", "total"))
    if parameters is not None:
        entry["parameter_count"] = parameter_text(parameters)
    context = _positive(_dig(payload, "gguf", "context_length"))
    if context is not None:
        entry["context_length"] = context
    licence = _dig(payload, "cardData", "license")
    if isinstance(licence, str) and licence:
        entry["license"] = licence
    if gguf:
        entry["engine"] = "llama_cpp"
    if len(parts) == 1 and parts[0].sha256 is not None:
        entry["sha256"] = parts[0].sha256
    return entry


def append(text: str, entry: dict[str, Any]) -> str:
    """``text`` (a valid catalog) with ``entry`` added at the end of ``models``; every other byte is kept."""
    document = json.loads(text)
    located, _ = source_map.map_source(text)
    newline = "\r\n" if "\r\n" in text else "\n"
    opening = located.values["/models"]
    line_start = text.rfind("\n", 0, opening) + 1
    base = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
    count = len(document["models"])
    if count:
        last = located.values[f"/models/{count - 1}"]
        _, end = json.JSONDecoder().raw_decode(text, last)
        before = text[text.rfind("\n", 0, last) + 1 : last]
        indent = before if before.strip() == "" and len(before) > len(base) else base + "  "
        unit = indent[len(base) :]
        body = json.dumps(entry, indent=unit, ensure_ascii=False).replace("\n", newline + indent)
        return text[:end] + "," + newline + indent + body + text[end:]
    unit = base if base else "  "
    indent = base + unit
    body = json.dumps(entry, indent=unit, ensure_ascii=False).replace("\n", newline + indent)
    closing = text.index("]", opening)
    return text[: opening + 1] + newline + indent + body + newline + base + text[closing:]
