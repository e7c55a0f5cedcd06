# Sequence Models with MXNet: two commands, `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# matplotlib's font cache (~/.cache/matplotlib) is shared by every matplotlib on the machine; one
# built by another install, whose fonts were then deleted, lacks the mathtext fonts and every
# plot with math prints findfont warnings (seen in CI). This install keeps its own.
export MPLCONFIGDIR := $(CURDIR)/$(VENV)/matplotlib

.PHONY: venv book test test-fast release publish checkpoints clean constraints

venv: $(STAMP)

# (Re)create the virtual environment when the pins change.
$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3" wheel
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	$(BIN)/python -c "from seqmx import blas; blas.install_kernel()"  # the Jupyter kernel, with this CPU's OpenBLAS kernels
	touch $@

# Build the website into _build/html, executing every chapter (cached in _build/.jupyter_cache).
book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going

# The whole suite: library, grader and exercises, chapters executed, book built and read in a browser.
# --dist loadgroup: the tests marked xdist_group("book") share one worker, so the book is built once.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=15

# Without the slow tests (notebook execution, book build).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# Student versions of every assignment into exercises/release/.
release: $(STAMP)
	$(BIN)/python -m autograder release

# The student edition (book sources, seqmx, data, release notebooks; no solution, hidden test or
# calibrated value) into _publish/, or PUBLISH_DIR=DIR. See autograder/publish.py.
PUBLISH_DIR ?= _publish
publish: $(STAMP)
	$(BIN)/python -m autograder publish $(PUBLISH_DIR)

# Retrain every checkpoint of data/checkpoints/ (params, provenance JSON, SHA1SUMS) from its seed
# with the library's own code: one thread, about 33 CPU minutes (the PTB LSTM 24, Tang 3.4, seq2seq 2.4,
# the four Time Machine models 3.3). Not in `make test`.
checkpoints: $(STAMP)
	OMP_NUM_THREADS=1 MXNET_ENGINE_TYPE=NaiveEngine $(BIN)/python scripts/train_checkpoints.py

constraints: $(STAMP)
	(echo "# Every package of a working install (pip freeze on Python 3.11.7), so that a"; \
	 echo "# fresh venv resolves to the same versions. Regenerate with 'make constraints'."; \
	 $(BIN)/python -m pip freeze --exclude-editable) > constraints.txt

clean:
	rm -rf _build exercises/release exercises/autograded exercises/submitted exercises/feedback exercises/gradebook.db
