# Two commands for a fresh machine with Python ≥ 3.10 and pip:
#   make demo   installs everything into .venv and runs `seqlab demo` on built-in data
#   make test   installs everything into .venv and runs the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# torch is pinned here (not in pyproject) so that machines with a local CPU wheel use it
# instead of pulling the registry's CUDA build; elsewhere pick your own build first.
TORCH  ?= torch==2.13.*

.PHONY: install demo test study fonts bench-help clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/seqlab demo

test: install
	$(BIN)/python -m pytest

# every claim of the lecture notes measured, quick mode (< 10 min on 2 cores): seqlab-study/index.html
study: install
	$(BIN)/seqlab study all --quick --out seqlab-study

# a font with Hangul for the plots' Korean labels (Debian/Ubuntu; elsewhere install Noto Sans CJK or set SEQLAB_FONT)
fonts:
	@if command -v apt-get >/dev/null; then \
		$$(command -v sudo || true) apt-get install -y -q fonts-noto-cjk; \
	else echo "no apt-get: install a Korean font (Noto Sans CJK, NanumGothic) or set SEQLAB_FONT=/path/to/font.ttf"; fi

clean:
	rm -rf $(VENV) seqlab-demo seqlab-study .pytest_cache
