"""Named filter specs: the user's catalogue in the top-level ``filters/`` folder.

A spec is a small TOML file naming the stages of one filter (or filter family) and any thresholds that
differ from the published defaults::

    description = "Gopher repetition + quality rules (Rae et al. 2021, Table A1)"
    [[stages]]
    stage = "gopher_rep"
    [[stages]]
    stage = "gopher_quality"
    min_stop_words = 2

``--filter NAME`` looks for ``NAME.toml`` in ``./filters/`` (a project's own variants, e.g.
``filters/gopher-strict.toml``), then among the specs shipped with curate (the repository's
``filters/`` folder is packaged as ``curate.specs``, so they work after a plain ``pip install``); a
path to a ``.toml`` file works too. Parameters are type-checked like any config key.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.resources
import os
import tomllib
from typing import Any

from curate.core import config as configmod
from curate.core.errors import ConfigError
from curate.core.stage import Stage

# stage name -> "module:Class": every stage a spec may name
STAGES = {
    "length": "curate.filters.length:Length",
    "url": "curate.filters.url:URLFilter",
    "language": "curate.filters.language:Language",
    "tokens": "curate.filters.tokens:TokenCount",
    "extract": "curate.extract.stage:Extract",
    "gopher_rep": "curate.filters.gopher:GopherRepetition",
    "gopher_quality": "curate.filters.gopher:GopherQuality",
    "c4": "curate.filters.c4:C4Quality",
    "c4_badwords": "curate.filters.c4:C4BadWords",
    "fineweb_quality": "curate.filters.fineweb_quality:FineWebQuality",
    "pii": "curate.filters.pii:PII",
    "url_dedup": "curate.dedup.stages:URLDedup",
    "exact_dedup": "curate.dedup.stages:ExactDedup",
    "minhash_dedup": "curate.dedup.stages:MinHashDedup",
    "lines_dedup": "curate.dedup.lines:LineDedup",
}


@dataclasses.dataclass(frozen=True)
class FilterSpec:
    name: str
    description: str
    path: str
    stages: tuple[Stage, ...]


def stage_class(name: str) -> type:
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r} (known: {', '.join(sorted(STAGES))})")
    module, _, cls = STAGES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def _shipped() -> dict[str, str]:
    try:
        root = importlib.resources.files("curate.specs")
    except ModuleNotFoundError:
        return {}
    return {p.name[: -len(".toml")]: str(p) for p in root.iterdir() if p.name.endswith(".toml")}


def available(cwd: str | None = None) -> dict[str, str]:
    """Spec name -> file, the project's ``./filters/`` overriding the shipped ones."""
    out = _shipped()
    local = os.path.join(cwd or os.getcwd(), "filters")
    if os.path.isdir(local):
        out.update({f[: -len(".toml")]: os.path.join(local, f) for f in os.listdir(local) if f.endswith(".toml")})
    return dict(sorted(out.items()))


def load(name_or_path: str, cwd: str | None = None) -> FilterSpec:
    """Resolve ``--filter NAME`` (or a path to a .toml spec) into stages; ConfigError says what exists."""
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        path, name = name_or_path, os.path.basename(name_or_path).removesuffix(".toml")
        if not os.path.isfile(path):
            raise ConfigError(f"filter spec {path!r} does not exist")
    else:
        specs = available(cwd)
        if name_or_path not in specs:
            raise ConfigError(f"unknown filter {name_or_path!r} (known: {', '.join(specs) or 'none'})")
        path, name = specs[name_or_path], name_or_path
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"filter spec {path!r} is not valid TOML: {e}") from e
    unknown = sorted(set(data) - {"description", "stages"})
    if unknown:
        raise ConfigError(f"filter spec {path!r}: unknown key {unknown[0]!r} (known: description, stages)")
    tables = data.get("stages") or []
    if not tables:
        raise ConfigError(f"filter spec {path!r} names no [[stages]]")
    stages = []
    for i, table in enumerate(tables):
        params: dict[str, Any] = dict(table)
        stage = params.pop("stage", None)
        if not isinstance(stage, str):
            raise ConfigError(f"filter spec {path!r}: stages[{i}] needs stage = \"NAME\"")
        stages.append(configmod.build(stage_class(stage), params, f"{name}.stages[{i}]"))
    return FilterSpec(name, str(data.get("description", "")), path, tuple(stages))
