# robustune — set-up, demo and tests. Everything is installed into .venv/ from the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.robustune-installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

# The exact tested set is constraints.txt (pyproject.toml holds the compatible ranges). torch is
# installed first and pinned: 2.13.0 is the CPU wheel these machines carry, while an unpinned torch
# would pull a multi-GB CUDA build.
# WordNet 3.0 (synonym attacks) comes from Debian: nltk's own downloader needs the internet.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -f /usr/share/wordnet/data.noun || { apt-get update -qq && apt-get install -y -qq wordnet-base wordnet-sense-index > /dev/null; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,knn]"
	$(BIN)/robustune data mr > /dev/null
	touch $(STAMP)

# The main job: fine-tune the bundled MiniLM on MR movie reviews, evaluate on the held-out split,
# save the model and use it.
demo: setup
	$(BIN)/robustune data mr
	$(BIN)/robustune train --data mr --eval-data mr:test --output runs/demo --overwrite
	$(BIN)/python examples/use_model.py runs/demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/throughput.py

clean:
	rm -rf $(VENV) runs
