# The two commands a newcomer types: `make test` and (once the server exists) `make serve`.
# Both set everything up first: Debian packages (when root), the virtualenv, the project.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml packaging/debian-packages.txt
	./packaging/install-debian-packages.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/translate.py
	$(BIN)/python bench/edifact.py

clean:
	rm -rf $(VENV) build *.egg-info
