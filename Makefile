# Set-up and entry points.  Every target creates the virtual environment on first use.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
SHARED  ?= ../shared/data
FALIGN_DATA ?= $(abspath data)
export FALIGN_DATA

.PHONY: venv data test book bench clean reproduce notebooks browser

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# MNIST: copy the official files from the shared folder when it is there; otherwise the code
# downloads them with torchvision (md5-checked) the first time they are needed.
data:
	@mkdir -p $(FALIGN_DATA)/MNIST/raw
	@if [ -d $(SHARED)/MNIST/raw ]; then cp -n $(SHARED)/MNIST/raw/*.gz $(FALIGN_DATA)/MNIST/raw/; fi

# The test command: unit tests, the smoke execution of every chapter, the spot check of a
# stored paper run, nbval over the committed chapter notebooks, and the browser test of the
# built site (which needs Chromium: `make browser` installs Debian's).
test: venv data browser
	FALIGN_PROGRESS=0 $(PY) -m pytest -q tests --nbval --nbval-current-env chapters

# Execute chapters with papermill.  CHAPTER=name (default: all), PROFILE=paper|quick|smoke,
# DEVICE=auto|cpu|cuda.  Trains only the runs not yet stored under RESULTS; the executed
# notebooks go to _build/reproduced/<chapter>-<profile>.ipynb.
CHAPTER ?=
PROFILE ?= quick
DEVICE  ?= auto
RESULTS ?= results
reproduce: venv data
	$(PY) -m falign.notebooks reproduce $(CHAPTER) --profile $(PROFILE) --device $(DEVICE) --results $(RESULTS)

# Re-render the committed chapter notebooks from stored results (no training).
notebooks: venv
	FALIGN_PROGRESS=0 $(PY) -m falign.notebooks render $(CHAPTER)

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

book: venv
	$(VENV)/bin/jupyter-book build --warningiserror --keep-going .

bench: venv
	$(PY) scripts/benchmark.py

clean:
	rm -rf _build
