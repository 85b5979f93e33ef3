# asd-book: the two commands of the README.
#   make book   -> installs everything into .venv, then builds the whole book (every chapter executed)
#   make test   -> installs everything into .venv (and headless Chromium), runs the unit tests,
#                  builds the book and checks the rendered HTML in the browser
# Quicker variants: make test-fast (unit tests only), make bench (benchmark tables);
# make test-real-mode builds the book with ASD_DATA=real on a stand-in data set.
# Course: make student (student copies of chapters and problem sets), make grade PS=ps1_features
# SUBMISSIONS=folder (autograder, grades/<PS>.csv; see book/course/problem_sets.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.asd-installed

.PHONY: install book test test-fast test-browser test-real-mode bench student grade clean experiments

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23,<27"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,book]"
	@touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/python scripts/build_book.py

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not browser"

test-browser: $(STAMP)
	bash scripts/install_browser.sh
	$(BIN)/python -m pytest -m browser

# the unit tests, the experiment store's check, the book and the browser checks, with one summary
test: $(STAMP)
	$(BIN)/python scripts/test_all.py

# the book's heavy experiments into results/ (resumable; see asdlib/store.py, about an hour on 2 cores)
experiments: $(STAMP)
	$(BIN)/python -m asdlib.cli experiments

# every chapter in real-data mode (ASD_DATA=real) on a stand-in download without internet (~6 min)
test-real-mode: $(STAMP)
	$(BIN)/python scripts/check_real_mode.py

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

student: $(STAMP)
	$(BIN)/python scripts/student_copies.py --out student

# grade the student notebooks in $(SUBMISSIONS) against book/course/$(PS).ipynb (add SET="--set SEED=3")
grade: $(STAMP)
	@test -n "$(PS)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade PS=ps1_features SUBMISSIONS=folder [SET=\"--set SEED=3\"]"; exit 2; }
	$(BIN)/python scripts/grade.py notebook book/course/$(PS).ipynb $(SUBMISSIONS)/*.ipynb $(SET) --out grades/$(PS).csv

clean:
	rm -rf _build student grades
