# Set-up and entry points.  Every target creates the virtual environment on first use.
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
SHARED  ?= ../shared/data
FALIGN_DATA ?= $(abspath data)
export FALIGN_DATA

.PHONY: venv data test test-default-paths book sweep verify-results student-book bench clean reproduce notebooks verdict browser runs background device-data pending pack-runs unpack-runs

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# MNIST: copy the official files from the shared folder when it is there; otherwise the code
# downloads them with torchvision (md5-checked) the first time they are needed.
# Tiny-ImageNet (the LeNet chapters' stand-in for CIFAR-100): a link to the shared pool.
data:
	@mkdir -p $(FALIGN_DATA)/MNIST/raw
	@if [ -d $(SHARED)/MNIST/raw ]; then cp -n $(SHARED)/MNIST/raw/*.gz $(FALIGN_DATA)/MNIST/raw/; fi
	@if [ -d $(SHARED)/tiny-imagenet-200 ] && [ ! -e $(FALIGN_DATA)/tiny-imagenet-200 ]; then \
	  ln -s $(abspath $(SHARED)/tiny-imagenet-200) $(FALIGN_DATA)/tiny-imagenet-200; fi

# The test command: unit tests, the smoke execution of every chapter, the spot check of a
# stored paper run, nbval over the committed chapter notebooks, and the browser test of the
# built site (which needs Chromium: `make browser` installs Debian's).
# Both cores (pytest-xdist); --dist loadfile keeps each notebook's cells in one worker.
# nbval checks the chapters whose numbers come from the store on the machine's default kernels,
# and the chapters that compute at render time on other CPU kernel paths (falign.portability):
# their printed digits must not depend on the machine.
test: venv data browser
	FALIGN_PROGRESS=0 OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile --durations=15 tests --nbval --nbval-current-env \
	  --nbval-sanitize-with nbval_sanitize.cfg $$($(PY) -m falign.portability store)
	env $$($(PY) -m falign.portability alternate-env) FALIGN_PROGRESS=0 OMP_NUM_THREADS=1 \
	  $(PY) -m pytest -q -n 2 --dist loadfile -p no:cacheprovider --nbval --nbval-current-env \
	  --nbval-sanitize-with nbval_sanitize.cfg $$($(PY) -m falign.portability render-time)

# The render-time chapters on this machine's default kernels too (not part of make test).
test-default-paths: venv
	FALIGN_PROGRESS=0 OMP_NUM_THREADS=1 $(PY) -m pytest -q -n 2 --dist loadfile -p no:cacheprovider --nbval \
	  --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg $$($(PY) -m falign.portability render-time)

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
# Chapters first, then verdict.md, then the scoreboard, errata and limitations pages (they read
# the chapters' glued values).  Run `make verdict` after committing runs.
notebooks: venv
	FALIGN_PROGRESS=0 OMP_NUM_THREADS=1 $(PY) -m falign.scoreboard render $(CHAPTER)

verdict: venv
	FALIGN_PROGRESS=0 OMP_NUM_THREADS=1 $(PY) -m falign.scoreboard verdict

# Pending runs of a family: train them within a time budget (resumable: a run cut short is
# checkpointed under results/_checkpoints and resumed by the next call), list them, or move
# finished runs between machines as one archive.  On a GPU: DEVICE=cuda WORKERS=8.
FAMILY  ?= lenet_cifar
BUDGET_MIN ?= 9
WORKERS ?= 1
ARCHIVE ?= _build/runs.tar.gz
runs: venv data
	$(PY) -m falign.runs train $(FAMILY) --profile $(PROFILE) --device $(DEVICE) --budget-min $(BUDGET_MIN) --workers $(WORKERS) --results $(RESULTS)
# The missing runs of FAMILY/PROFILE as one submitit job array: EXECUTOR=slurm (with PARTITION,
# GPUS per task, CPUS per task, TIME_MIN per task) or EXECUTOR=local (processes here).
EXECUTOR ?= local
PARTITION ?=
GPUS ?= 0
CPUS ?= 1
TIME_MIN ?= 60
sweep: venv data
	$(PY) -m falign.runs submit $(FAMILY) --profile $(PROFILE) --executor $(EXECUTOR) --device $(DEVICE) \
	  $(if $(PARTITION),--partition $(PARTITION)) --gpus-per-task $(GPUS) --cpus-per-task $(CPUS) \
	  --time-min $(TIME_MIN) --results $(RESULTS) --wait
# One core of a CPU-only session: the queue of pending runs, in order, within one budget.  A
# run cut short resumes from results/_checkpoints/ (git-ignored; kept while the working tree
# is).  This round's order: the noisy-MNIST confirmation's last sign-FA runs, the readings of
# Lillicrap's 784-1000-10 net (complete), Lillicrap's deeper MNIST nets to convergence
# (plateau rule; a run that stalls restarts at a tenth of its first rate), Lechner's FC cells
# tuned on validation (BP's optimiser too), Table 2's 224-px readings (GD first), Table 1's n = 25 and 50 columns
# at 2 repeats per rule, the second repeat of every noisy-MNIST reading (the decision it fed
# is made: 180 runs of 2000 epochs, 2.4 core-hours at the stored ones' mean), and last
# Lechner's 64-px CNNs at the 20-epoch reading (45 to 60 core-hours: GPU work).
QUEUE ?= noisy_mnist_readings:quick noisy_mnist_confirm:quick noisy_mnist_confirm:paper \
         lillicrap_mnist:readings lillicrap_mnist:quick lechner_mdfa:quick \
         resnet_tiny_imagenet_readings:quick lenet_cifar:quick noisy_mnist_readings:paper \
         lechner_mdfa:20_epochs
background: venv data
	OMP_NUM_THREADS=1 FALIGN_PROGRESS=0 $(PY) -m falign.runs train $(QUEUE) --device cpu --budget-min $(BUDGET_MIN) --results $(RESULTS)
# Check every stored run against its checksums and list stray entries; REPAIR=1 moves damaged
# runs and leftovers to results/_quarantine/ (never deletes), UPGRADE=1 adds missing checksums.
verify-results: venv
	$(PY) -m falign.runs verify --results $(RESULTS) $(if $(REPAIR),--repair) $(if $(UPGRADE),--upgrade)
pending: venv
	$(PY) -m falign.runs list $(FAMILY) --profile $(PROFILE) --results $(RESULTS)
pack-runs: venv
	@mkdir -p $(dir $(ARCHIVE))
	$(PY) -m falign.runs pack $(FAMILY) $(ARCHIVE) --results $(RESULTS)
unpack-runs: venv
	$(PY) -m falign.runs unpack $(ARCHIVE) --results $(RESULTS)

# The data a GPU job carries (../shared does not travel): the Tiny-ImageNet pool, ~38 MB.
device-data:
	@mkdir -p .device
	tar cJf .device/tiny-imagenet-200.tar.xz -C $(SHARED) tiny-imagenet-200

browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null)

book: venv
	$(VENV)/bin/jupyter-book build --warningiserror --keep-going .

# The same book without the exercises' solutions (cells tagged "solution"), for handing out.
student-book: venv
	$(PY) -m falign.notebooks student-book --out _build/student

# Each rule's step time against autograd backprop, by width and by models at once; stored for
# the book's performance page (chapters/performance.py).  Pause background training first.
BENCH_DEVICE ?= cpu
BENCH_SECTIONS ?= rules width concurrency
BENCH_OUT ?= results/benchmarks/$(BENCH_DEVICE)-$(shell date -u +%Y%m%d).json
bench: venv
	$(PY) scripts/benchmark.py --device $(BENCH_DEVICE) --sections $(BENCH_SECTIONS) --out $(BENCH_OUT)

clean:
	rm -rf _build

# The book and its student edition as PDFs, printed by headless Chromium from the built sites
# (run `make book` and `make student-book` first) and merged with pypdf: _build/pdf/.
.PHONY: pdf release-assets
pdf: venv browser
	FALIGN_PROGRESS=0 $(PY) -m falign.pdf _build/html _build/pdf/falign-book.pdf --source .
	FALIGN_PROGRESS=0 $(PY) -m falign.pdf _build/student/src/_build/html _build/pdf/falign-book-student.pdf \
	  --source _build/student/src

# What a release attaches (.github/workflows/release.yml), in dist/: the wheel and sdist, the
# stored runs as committed at HEAD (git archive: no checkpoints, nothing uncommitted), the built
# site and the two PDFs.  VERSION=X.Y.Z names the archives.
VERSION ?= $(shell $(PY) -m setuptools_scm 2>/dev/null | tail -n 1)
release-assets: venv
	@test -f _build/html/index.html || (echo "build the site first: make book" && false)
	@mkdir -p dist
	$(PY) -m build --no-isolation --outdir dist .
	git archive --format=tar.gz --prefix=falign-results-$(VERSION)/ -o dist/falign-results-$(VERSION).tar.gz HEAD results
	tar -czf dist/falign-site-$(VERSION).tar.gz -C _build html
	cp _build/pdf/falign-book.pdf dist/falign-book-$(VERSION).pdf
	cp _build/pdf/falign-book-student.pdf dist/falign-book-student-$(VERSION).pdf
