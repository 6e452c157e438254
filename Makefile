# Two commands for a fresh machine with Python ≥ 3.10 and pip:
#   make demo   installs everything into .venv and runs `seqlab demo` on built-in data
#   make test   installs everything into .venv and runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# torch is pinned here (not in pyproject) so that machines with a local CPU wheel use it
# instead of pulling the registry's CUDA build; elsewhere pick your own build first.
TORCH  ?= torch==2.13.*

.PHONY: install demo test chromium allocators study bench-help clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/seqlab demo

# The browser tests (tests/test_serve_browser.py) drive Debian's Chromium; where it is missing and apt-get
# can be used (root on Debian/Ubuntu, as in CI) it is installed with a CJK font, otherwise they skip.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; } \
	  || echo "chromium not installed (needs root and apt-get): the browser tests will skip"

# SEQLAB_ALLOCATOR=tcmalloc|jemalloc (src/seqlab/allocator.py) preloads these; the tests restart a command under
# each where it is installed (here where apt-get can be used; they skip otherwise).
allocators:
	@ls /usr/lib/*/libjemalloc.so.2 /usr/lib/*/libtcmalloc_minimal.so.4 >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] \
	  && command -v apt-get >/dev/null 2>&1 && apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjemalloc2 libtcmalloc-minimal4 >/dev/null; } \
	  || echo "libjemalloc2 / libtcmalloc-minimal4 not installed (needs root and apt-get): their tests will skip"

test: install chromium allocators
	$(BIN)/python -m pytest

# every claim of the lecture notes measured, quick mode (< 10 min on 2 cores): seqlab-study/index.html
study: install
	$(BIN)/seqlab study all --quick --out seqlab-study

clean:
	rm -rf $(VENV) seqlab-demo seqlab-study .pytest_cache
