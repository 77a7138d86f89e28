# Set-up and entry points.  Every target creates the virtual environment on first use.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
SHARED  ?= ../shared/data
FALIGN_DATA ?= data
export FALIGN_DATA

.PHONY: venv data test book bench clean

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

test: venv data
	FALIGN_PROGRESS=0 $(PY) -m pytest -q tests

book: venv
	$(VENV)/bin/jupyter-book build --warningiserror --keep-going .

bench: venv
	$(PY) scripts/benchmark.py

clean:
	rm -rf _build
