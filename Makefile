# Two entry points (see README): `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3.12
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
SAMPLE := samples/sample.mp4
OUTPUT := out/sample_restored.mp4

.PHONY: setup run test bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), "vidrestore needs Python >= 3.12"' || \
	  { echo "error: $(PYTHON) is not Python 3.12+; run: make PYTHON=/path/to/python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[vs,train,eval,dev]"
	@rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)

run: $(STAMP)
	@mkdir -p out
	$(BIN)/vidrestore run $(SAMPLE) -o $(OUTPUT) --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/vidrestore bench

clean:
	rm -rf $(VENV) out .pytest_cache
