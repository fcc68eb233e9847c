"""Typed run configuration: defaults <- TOML file <- CLI flags <- ``--set key=value`` overrides.

Everything is a frozen dataclass. Sections ``run``, ``spark`` and ``ray`` configure the run itself; every
other top-level section belongs to the pipeline's own ``Config`` dataclass (``pipelines/fineweb.py``
declares one), so ``--set length.min_words=100`` is type-checked against the stage parameter it feeds.
Unknown keys, type mismatches and malformed files raise :class:`ConfigError` naming the key, before any
work starts.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from typing import Any

from curate.core.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class RunSettings:
    input: list[str] = dataclasses.field(default_factory=list)
    output: str = ""
    engine: str = "local"
    workers: int = 0  # 0: one per CPU core
    batch_rows: int = 1000

    def __post_init__(self):
        if self.engine not in ("local", "ray", "spark"):
            raise ConfigError(f"run.engine must be one of local, ray, spark; got {self.engine!r}")
        if self.workers < 0:
            raise ConfigError(f"run.workers must be >= 0 (0 = one per core); got {self.workers}")
        if self.batch_rows < 1:
            raise ConfigError(f"run.batch_rows must be >= 1; got {self.batch_rows}")

    @property
    def n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class SparkSettings:
    master: str = "local[*]"  # ignored under spark-submit, whose --master wins
    conf: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RaySettings:
    address: str = ""  # empty: start a local Ray; "auto" or ray://...: join a cluster
    num_cpus_per_worker: float = 0.5  # fractional, so read/write tasks are not starved (PITFALLS)


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """For pipelines that take no parameters."""


RUN_SECTIONS = ("run", "spark", "ray")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    run: RunSettings
    spark: SparkSettings
    ray: RaySettings
    pipeline: Any

    def to_dict(self) -> dict[str, Any]:
        out = {k: dataclasses.asdict(getattr(self, k)) for k in RUN_SECTIONS}
        out.update(dataclasses.asdict(self.pipeline))
        return out


def load(
    pipeline_cls: type,
    file: str | None = None,
    flags: dict[str, Any] | None = None,
    sets: list[str] | None = None,
) -> RunConfig:
    """Resolve the run config; raise ConfigError naming the offending key or file."""
    if not dataclasses.is_dataclass(pipeline_cls):
        raise ConfigError(f"a pipeline's Config must be a dataclass, got {pipeline_cls!r}")
    clash = set(RUN_SECTIONS) & {f.name for f in dataclasses.fields(pipeline_cls)}
    if clash:
        raise ConfigError(f"pipeline Config fields {sorted(clash)} clash with the run's own sections")
    data: dict[str, Any] = {}
    if file:
        try:
            with open(file, "rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError as e:
            raise ConfigError(f"config file {file!r} does not exist") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {file!r} is not valid TOML: {e}") from e
    for key, value in (flags or {}).items():
        if value is not None:
            _assign(data, key, value)
    top = _Top(pipeline_cls)
    for item in sets or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key = key.strip()
        _assign(data, key, _parse_raw(raw, top.type_of(key), key))
    sections = {k: data.pop(k, {}) for k in RUN_SECTIONS}
    return RunConfig(
        run=build(RunSettings, sections["run"], "run"),
        spark=build(SparkSettings, sections["spark"], "spark"),
        ray=build(RaySettings, sections["ray"], "ray"),
        pipeline=build(pipeline_cls, data, ""),
    )


class _Top:
    """Looks up the declared type of a dotted key across run sections and the pipeline Config."""

    def __init__(self, pipeline_cls: type):
        self.pipeline_cls = pipeline_cls

    def type_of(self, key: str) -> Any:
        parts = key.split(".")
        head = {"run": RunSettings, "spark": SparkSettings, "ray": RaySettings}.get(parts[0])
        tp: Any = head if head else self.pipeline_cls
        rest = parts[1:] if head else parts
        for i, part in enumerate(rest):
            if _origin(tp) is dict:
                return _args(tp)[1]
            hints = _hints(tp) if dataclasses.is_dataclass(tp) else {}
            if part not in hints:
                where = ".".join(parts[: len(parts) - len(rest) + i]) or "the top level"
                raise ConfigError(
                    f"unknown config key {key!r}: {part!r} is not a field of {where} "
                    f"(known: {', '.join(sorted(hints)) or 'none'})"
                )
            tp = hints[part]
        return tp


def _assign(data: dict, key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config key {key!r}: {part!r} is a value, not a section")
    node[parts[-1]] = value


def _parse_raw(raw: str, tp: Any, key: str) -> Any:
    """Turn a --set string into a value of type ``tp`` (strings stay raw; lists take TOML or commas)."""
    raw = raw.strip()
    if tp is str:
        return raw
    if _origin(tp) is list:
        if raw.startswith("["):
            return _toml_value(raw, key)
        return [_parse_raw(x, _args(tp)[0], key) for x in raw.split(",") if x.strip()]
    if tp is bool:
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ConfigError(f"config key {key!r} expects true or false, got {raw!r}")
    if tp in (int, float):
        try:
            return tp(raw)
        except ValueError:
            raise ConfigError(f"config key {key!r} expects {tp.__name__}, got {raw!r}") from None
    return _toml_value(raw, key)


def _toml_value(raw: str, key: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"config key {key!r}: cannot parse {raw!r}") from None


def build(cls: type, data: Any, where: str) -> Any:
    """Instantiate dataclass ``cls`` from a dict, checking keys and types recursively."""
    if not isinstance(data, dict):
        raise ConfigError(f"config section {where or 'top level'!r} must be a table, got {data!r}")
    hints = _hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(
            f"unknown config key {key!r} (known in {where or 'the top level'}: {', '.join(sorted(hints))})"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        kwargs[name] = _coerce(value, hints[name], key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config section {where or 'top level'!r}: {e}") from e


def _coerce(value: Any, tp: Any, key: str) -> Any:
    if dataclasses.is_dataclass(tp):
        return build(tp, value, key)
    origin = _origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r} expects a list, got {value!r}")
        return [_coerce(v, _args(tp)[0], key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} expects a table, got {value!r}")
        return {str(k): _coerce(v, _args(tp)[1], f"{key}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in _args(tp):
            return None
        for option in _args(tp):
            if option is not type(None):
                try:
                    return _coerce(value, option, key)
                except ConfigError:
                    pass
        raise ConfigError(f"config key {key!r} expects {tp}, got {value!r}")
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool):
        if type(value) is not tp:
            raise ConfigError(f"config key {key!r} expects {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    return value


def _hints(cls: type) -> dict[str, Any]:
    return {f.name: typing.get_type_hints(cls)[f.name] for f in dataclasses.fields(cls)}


def _origin(tp: Any) -> Any:
    return typing.get_origin(tp)


def _args(tp: Any) -> tuple:
    return typing.get_args(tp)
