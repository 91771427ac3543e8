# Two commands do all set-up: `make run` and `make test` (each installs on first use).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
RAG := $(VENV)/bin/rag
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp
CHROMIUM := /usr/bin/chromium
TESSERACT := /usr/bin/tesseract

export HF_HUB_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install install-dev run test test-fast check lint eval chromium ocr clean bench

# What serving needs: no test tools, llama.cpp build or PostgreSQL server (the extras:
# `pip install -e '.[llm]'` for RAG_SYNTH=llm, `'.[pg]'` for RAG_STORE=pgvector).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU wheel of torch, pinned, before anything can pull a CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e .
	touch $@

# The tests', linters' and benchmarks': every extra, pytest, a llama.cpp server, PostgreSQL.
$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

install-dev: $(DEV_STAMP)

# Browser tests drive Debian's chromium (Playwright's own browser download is not possible offline).
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
		else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; \
	fi

# OCR of scans and photos (rag.ocr): Debian's tesseract-ocr and its English data (~10 MB).
ocr:
	@if [ ! -x $(TESSERACT) ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q tesseract-ocr; \
		else sudo $(SUDO_FLAGS) apt-get update -q && \
			sudo $(SUDO_FLAGS) apt-get install -y -q tesseract-ocr; fi; \
	fi

# Without OCR the chat still runs (scans are then refused with how to install it), so
# `make run` never stops at a password prompt: sudo -n fails at once where one would come.
run: install
	@$(MAKE) --no-print-directory ocr SUDO_FLAGS=-n || \
		echo "OCR not installed; scans will be refused. To read them: sudo apt-get install tesseract-ocr"
	$(RAG) ingest
	$(RAG) serve

test: install-dev chromium ocr
	$(PY) -m pytest

test-fast: install-dev ocr
	$(PY) -m pytest -m "not slow and not browser"

lint: install-dev
	$(VENV)/bin/ruff check rag ui evals tests
	$(VENV)/bin/ruff format --check rag ui evals tests
	$(VENV)/bin/mypy rag

check: lint test-fast

DATASETS := ../shared/datasets
EVAL := $(RAG) eval --baseline llamaindex-default

# The current numbers, committed under evals/results/ (each set's corpus indexed once, cached).
eval: install
	$(EVAL) $(DATASETS)/seed/dev.jsonl --corpus seeds --out evals/results/seed
	$(EVAL) $(DATASETS)/squad-v2/dev.jsonl --corpus $(DATASETS)/squad-v2/corpus --out evals/results/squad-v2
	$(EVAL) $(DATASETS)/hotpotqa/dev.jsonl --corpus $(DATASETS)/hotpotqa/corpus --out evals/results/hotpotqa
	$(EVAL) $(DATASETS)/realdocs/dev.jsonl --corpus $(DATASETS)/realdocs/corpus --out evals/results/realdocs

clean:
	rm -rf data .pytest_cache .hypothesis .ruff_cache .mypy_cache

# Benchmarks (bench/, minutes; not part of `make test`): results under bench/results/.
bench: install-dev
	$(PY) -m bench.run
