"""HTML text extraction: trafilatura (FineWeb's settings) or resiliparse, in a killable worker."""

from curate.extract.extractors import (
    RESILIPARSE_SETTINGS,
    TRAFILATURA_SETTINGS,
    ExtractError,
    resiliparse_text,
    trafilatura_text,
)
from curate.extract.stage import Extract

__all__ = [
    "RESILIPARSE_SETTINGS",
    "TRAFILATURA_SETTINGS",
    "Extract",
    "ExtractError",
    "resiliparse_text",
    "trafilatura_text",
]
