"""Benchmark the catalog toolchain on synthetic catalogs of 1,000 and 10,000 entries.

For each size, in a temporary directory (the repository's generated/ is never written), it measures:

* validate: ``codegen.validate.validate_file`` on the synthetic catalog (JSON Schema plus rules);
* build: ``codegen.build.generate`` plus ``codegen.build.write`` into a fresh directory, i.e. the
  whole of ``python -m codegen build`` including the TypeScript output, in this (warm) process;
* build (CLI): ``python -m codegen build`` as a fresh interpreter, imports included (what
  ``just build`` costs; its bytecode cache is warmed once first);
* import(generated): importing the generated ``catalog.py`` in a fresh interpreter whose ``.pyc``
  was warmed by one earlier run (``generated.types`` is imported first, untimed);
* json.load+pydantic: in the same kind of fresh interpreter, ``json.load`` of the same catalog file
  plus ``CatalogFile.model_validate`` with pydantic v2 models that datamodel-code-generator writes
  from schema/catalog.schema.json (importing those models is untimed);
* lookup: nanoseconds per ``CATALOG_BY_ID[id]`` over 100,000 random lookups, in this process,
  once with ids drawn from the whole catalog and once from a fixed set of 1,000 ids (the same
  working set at every size, separating the table's size from CPU-cache effects).

Every figure is the median of ``--repeat`` runs (the machine is noisy); the spread follows the
table. The goals from the issue are checked at the end: build (CLI) of 10,000 <= 3 s, import/baseline
<= 0.5 at 10,000 entries, and lookup by id O(1) (the ns/lookup ratio between the largest and the
smallest size is about 1).

Run from the repository root::

    .venv/bin/python bench/catalog_build.py [--sizes 1000 10000] [--repeat 5] [--profile [TOP]]

``--profile`` adds a cProfile of one build at the largest size (the TOP entries, default 10, by
cumulative time); it runs after, and does not affect, the timed runs.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import importlib
import importlib.util
import io
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: The repository root: codegen/ and generated/ are imported from here.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from codegen import schemas  # noqa: E402
from codegen.build import SCHEMA_DIR, generate, write  # noqa: E402
from codegen.rules import FORMAT_EXTENSIONS  # noqa: E402
from codegen.validate import validate_file  # noqa: E402

#: The real catalog that synthetic entries are derived from.
SOURCE_CATALOG = ROOT / "supported_models.json"
#: Lookups per timing of ``CATALOG_BY_ID[id]``.
LOOKUPS = 100_000
#: Distinct ids in the fixed working set of the second lookup series.
HOT_IDS = 1_000
#: Module name of the pydantic baseline models inside the temporary module directory.
PYDANTIC_MODULE = "bench_pydantic_models"
#: Goals from the issue.
BUILD_GOAL_SECONDS = 3.0
IMPORT_RATIO_GOAL = 0.5
GOAL_SIZE = 10_000
#: Above this ratio of ns/lookup (largest size / smallest size) lookup is not treated as O(1).
LOOKUP_RATIO_LIMIT = 1.5

#: Run in a fresh interpreter: import generated.types untimed, then time importing the catalog module.
IMPORT_CHILD = """
import importlib, sys, time
root, modules, name, count, probe = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
sys.path[:0] = [root, modules]
import generated.types
start = time.perf_counter()
module = importlib.import_module(name)
elapsed = time.perf_counter() - start
assert len(module.CATALOG) == count, len(module.CATALOG)
assert module.CATALOG_BY_ID[probe].id == probe
print(repr(elapsed))
"""

#: Run in a fresh interpreter: import the pydantic models untimed, then time json.load + validation.
BASELINE_CHILD = """
import importlib, json, sys, time
modules, name, catalog, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, modules)
models = importlib.import_module(name)
start = time.perf_counter()
with open(catalog, encoding="utf-8") as stream:
    data = json.load(stream)
validated = models.CatalogFile.model_validate(data)
elapsed = time.perf_counter() - start
assert len(validated.models) == count, len(validated.models)
print(repr(elapsed))
"""


@dataclass
class Result:
    """Every timing (seconds, or ns per lookup) of one catalog size."""

    size: int
    validate: list[float] = field(default_factory=list)
    build: list[float] = field(default_factory=list)
    cli_build: list[float] = field(default_factory=list)
    imports: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    lookup_ns: list[float] = field(default_factory=list)
    hot_lookup_ns: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Median import time of the generated module over the median baseline time."""
        return statistics.median(self.imports) / statistics.median(self.baseline)


def synthesise(models: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """A valid catalog of ``size`` distinct entries cycled from the real ``models``."""
    entries = []
    for index in range(size):
        entry = copy.deepcopy(models[index % len(models)])
        entry["id"] = f"{entry['id']}-{index}"
        entry["name"] = f"{entry['name']} #{index}"
        filename: str = entry["recommended_filename"]
        extension = next(
            e for e in sorted(FORMAT_EXTENSIONS[entry["format"]], key=len, reverse=True) if filename.lower().endswith(e)
        )
        stem, suffix = filename[: -len(extension)], filename[-len(extension) :]
        entry["recommended_filename"] = f"{stem}-{index}{suffix}"
        if index % 3 == 0:
            entry["artifacts"] = [{"name": "mmproj", "path": "mmproj-f16.gguf"}]
        entries.append(entry)
    return {"$schema": "./schema/catalog.schema.json", "models": entries}


def pydantic_source() -> str:
    """Pydantic v2 models for the catalog file, written by datamodel-code-generator."""
    from datamodel_code_generator import generate as generate_models
    from datamodel_code_generator.enums import DataModelType, InputFileType
    from datamodel_code_generator.format import Formatter, PythonVersion

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = generate_models(
            SCHEMA_DIR / schemas.CATALOG_SCHEMA,
            input_file_type=InputFileType.JsonSchema,
            output_model_type=DataModelType.PydanticV2BaseModel,
            formatters=[Formatter.BUILTIN],
            disable_timestamp=True,
            target_python_version=PythonVersion.PY_311,
        )
    if not isinstance(source, str) or "class CatalogFile(BaseModel)" not in source:
        raise SystemExit("datamodel-code-generator did not return one module with a CatalogFile model")
    return source


def child(code: str, pycache: Path, *arguments: str) -> float:
    """Run ``code`` in a fresh isolated interpreter that caches bytecode under ``pycache``; return its float."""
    # -I ignores PYTHON* variables (this environment sets PYTHONDONTWRITEBYTECODE); the cache is explicit.
    command = [sys.executable, "-I", "-X", f"pycache_prefix={pycache}", "-c", code, *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{completed.stderr}")
    return float(completed.stdout.strip().splitlines()[-1])


def time_lookups(module_name: str, rounds: int) -> tuple[list[float], list[float]]:
    """Ns per ``CATALOG_BY_ID[id]`` over ``LOOKUPS`` random ids, once per round, in this process.

    Returns two series: ids drawn from the whole catalog (the realistic case, whose working set
    grows with the catalog), and ids drawn from a fixed set of ``HOT_IDS`` ids (the same working
    set at every size, so only the size of the table differs).
    """
    module = importlib.import_module(module_name)
    try:
        table = module.CATALOG_BY_ID
        if not isinstance(table, MappingProxyType):
            raise SystemExit(f"{module_name}.CATALOG_BY_ID is {type(table).__name__}, not a MappingProxyType")
        ids = [model.id for model in module.CATALOG]
        hot = ids[:: max(1, len(ids) // HOT_IDS)][:HOT_IDS]
        get = table.__getitem__
        series: tuple[list[float], list[float]] = ([], [])
        for pool, timings in zip((ids, hot), series, strict=True):
            keys = random.Random(len(ids)).choices(pool, k=LOOKUPS)
            deque(map(get, keys), maxlen=0)  # untimed: warms the caches this series will use
            for _ in range(rounds):
                start = time.perf_counter()
                deque(map(get, keys), maxlen=0)
                timings.append((time.perf_counter() - start) / LOOKUPS * 1e9)
        return series
    finally:
        del sys.modules[module_name]


def measure(size: int, models: list[dict[str, Any]], scratch: Path, pycache: Path, repeat: int) -> Result:
    """Run every measurement for one catalog size inside ``scratch``."""
    result = Result(size)
    catalog = scratch / f"catalog-{size}.json"
    catalog.write_text(json.dumps(synthesise(models, size), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    display = catalog.name
    schema = schemas.load(SCHEMA_DIR).catalog

    for _ in range(repeat):
        start = time.perf_counter()
        document, diagnostics = validate_file(catalog, display, schema)
        result.validate.append(time.perf_counter() - start)
        if diagnostics:
            raise SystemExit("synthetic catalog is invalid:\n" + "\n".join(d.format() for d in diagnostics[:10]))
        assert len(document["models"]) == size

    out = scratch / "out"
    for run in range(repeat):
        out = scratch / f"out-{run}"  # a fresh directory each run: every file is really written
        start = time.perf_counter()
        files = generate(catalog, SCHEMA_DIR, display)
        write(files, out)
        result.build.append(time.perf_counter() - start)
    cli = [sys.executable, "-I", "-X", f"pycache_prefix={pycache}", "-m", "codegen", "build"]
    cli += ["--catalog", str(catalog), "--out", str(scratch / "out-cli")]
    for run in range(repeat + 1):  # the first run warms the bytecode cache and is not counted
        start = time.perf_counter()
        completed = subprocess.run(cli, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if completed.returncode != 0:
            raise SystemExit(f"python -m codegen build failed:\n{completed.stderr}")
        if run:
            result.cli_build.append(elapsed)
    if (out / "types.py").read_text(encoding="utf-8") != (ROOT / "generated" / "types.py").read_text(encoding="utf-8"):
        raise SystemExit('generated/types.py differs from what the schema produces; run "just build" first')

    modules = scratch.parent / "modules"
    name = f"bench_catalog_{size}"
    shutil.copyfile(out / "catalog.py", modules / f"{name}.py")
    probe = models[0]["id"] + f"-{size - 1 - (size - 1) % len(models)}"
    import_args = (str(ROOT), str(modules), name, str(size), probe)
    baseline_args = (str(modules), PYDANTIC_MODULE, str(catalog), str(size))
    # One untimed run each writes the .pyc files (under pycache); every timed run then reads them.
    child(IMPORT_CHILD, pycache, *import_args)
    child(BASELINE_CHILD, pycache, *baseline_args)
    for path in (modules / f"{name}.py", modules / f"{PYDANTIC_MODULE}.py"):
        if not Path(importlib.util.cache_from_source(str(path))).exists():
            raise SystemExit(f"no cached bytecode for {path.name} after the warm-up run")
    for _ in range(repeat):  # interleaved, so drift in machine load hits both sides alike
        result.imports.append(child(IMPORT_CHILD, pycache, *import_args))
        result.baseline.append(child(BASELINE_CHILD, pycache, *baseline_args))

    result.lookup_ns, result.hot_lookup_ns = time_lookups(name, repeat)
    return result


def profile_build(size: int, models: list[dict[str, Any]], scratch: Path, top: int) -> str:
    """CProfile of one build at ``size`` entries: the ``top`` entries by cumulative time."""
    catalog = scratch / f"profile-{size}.json"
    catalog.write_text(json.dumps(synthesise(models, size), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    profiler = cProfile.Profile()
    profiler.enable()
    write(generate(catalog, SCHEMA_DIR, catalog.name), scratch / "profile-out")
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(top)
    return stream.getvalue()


def median(values: list[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def table(rows: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def report(results: list[Result], repeat: int) -> str:
    """The table, the spread of every measurement and the goals."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    header = [
        "entries",
        "validate",
        "build",
        "build (CLI)",
        "import(generated)",
        "json.load+pydantic",
        "import/baseline",
        "lookup ns",
        f"lookup ns ({HOT_IDS} ids)",
    ]
    rows = [header]
    for r in results:
        rows.append(
            [
                str(r.size),
                f"{median(r.validate):.3f} s",
                f"{median(r.build):.3f} s",
                f"{median(r.cli_build):.3f} s",
                f"{median(r.imports):.4f} s",
                f"{median(r.baseline):.4f} s",
                f"{r.ratio:.2f}x",
                f"{median(r.lookup_ns):.1f}",
                f"{median(r.hot_lookup_ns):.1f}",
            ]
        )
    lines = [
        f"catalog toolchain benchmark (median of {repeat} runs; python {platform.python_version()}; {cpus} cpus)",
        *table(rows),
        "spread, min..max (seconds; lookups in ns):",
    ]
    for r in results:
        parts = [
            f"{label} {min(values):.4f}..{max(values):.4f}"
            for label, values in (
                ("validate", r.validate),
                ("build", r.build),
                ("build-cli", r.cli_build),
                ("import", r.imports),
                ("baseline", r.baseline),
            )
        ]
        parts += [
            f"{label} {min(values):.1f}..{max(values):.1f}"
            for label, values in (("lookup", r.lookup_ns), ("lookup-fixed", r.hot_lookup_ns))
        ]
        lines.append(f"  {r.size}: " + "; ".join(parts))

    goals = []
    at_goal = next((r for r in results if r.size == GOAL_SIZE), None)
    if at_goal is None:
        goals.append(f"build({GOAL_SIZE}) and import/baseline: n/a ({GOAL_SIZE} not among --sizes)")
    else:
        build = median(at_goal.cli_build)
        goals.append(
            f"build (CLI) of {GOAL_SIZE} <= {BUILD_GOAL_SECONDS:g} s: {verdict(build <= BUILD_GOAL_SECONDS)} "
            f"({build:.2f} s; in-process {median(at_goal.build):.2f} s)"
        )
        goals.append(
            f"import/baseline <= {IMPORT_RATIO_GOAL:g}: {verdict(at_goal.ratio <= IMPORT_RATIO_GOAL)} "
            f"({at_goal.ratio:.2f})"
        )
    if len(results) >= 2:
        small, large = min(results, key=lambda r: r.size), max(results, key=lambda r: r.size)
        # The verdict uses the fixed working set: with ids drawn from the whole catalog the ratio also
        # measures CPU caches (10,000 entries no longer fit), not the dict's O(1) lookup.
        fixed = median(large.hot_lookup_ns) / median(small.hot_lookup_ns)
        spread = median(large.lookup_ns) / median(small.lookup_ns)
        goals.append(
            f"lookup O(1): {verdict(fixed <= LOOKUP_RATIO_LIMIT)}: ns/lookup {large.size}/{small.size} = {fixed:.2f}x "
            f"over a fixed set of {HOT_IDS} ids (limit {LOOKUP_RATIO_LIMIT:g}x); {spread:.2f}x with ids from the "
            "whole catalog, where CPU caches differ"
        )
    lines.append("goals:")
    lines += [f"  {goal}" for goal in goals]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run every size, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000], help="catalog sizes (entries)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; medians are reported")
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=10,
        default=0,
        metavar="TOP",
        help="also cProfile one build at the largest size and print the TOP (default 10) cumulative entries",
    )
    arguments = parser.parse_args(argv)
    if arguments.repeat < 1 or any(size < 1 for size in arguments.sizes):
        parser.error("--repeat and --sizes must be positive")

    models: list[dict[str, Any]] = json.loads(SOURCE_CATALOG.read_text(encoding="utf-8"))["models"]
    results = []
    with tempfile.TemporaryDirectory(prefix="catalog-bench-") as temporary:
        root = Path(temporary)
        pycache = root / "pycache"
        modules = root / "modules"
        modules.mkdir()
        (modules / f"{PYDANTIC_MODULE}.py").write_text(pydantic_source(), encoding="utf-8")
        # This process reads the bytecode the children cached, and writes none into the repository.
        sys.pycache_prefix = str(pycache)
        sys.path.insert(0, str(modules))
        try:
            for size in sorted(set(arguments.sizes)):
                scratch = root / f"size-{size}"
                scratch.mkdir()
                results.append(measure(size, models, scratch, pycache, arguments.repeat))
            print(report(results, arguments.repeat))
            if arguments.profile:
                largest = max(arguments.sizes)
                print(f"\ncProfile of one build at {largest} entries (top {arguments.profile} by cumulative time):")
                print(profile_build(largest, models, root, arguments.profile))
        finally:
            sys.path.remove(str(modules))
            sys.pycache_prefix = None
    return 0


if __name__ == "__main__":
    sys.exit(main())
