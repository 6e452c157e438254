"""The console script's start: Ctrl-C while its modules (and torch) load is a one-line "interrupted", exit 130."""

import importlib.abc
import sys

import pytest

from seqlab.cli import entry


class _CtrlCOnImport(importlib.abc.MetaPathFinder):
    """Ctrl-C arriving while seqlab.cli.main is being imported."""

    def find_spec(self, name, path=None, target=None):
        if name == "seqlab.cli.main":
            raise KeyboardInterrupt
        return None


def test_ctrl_c_while_the_cli_loads_is_one_line_and_exit_130(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "seqlab.cli.main", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_CtrlCOnImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as e:
        entry.load_main()
    assert e.value.code == 130 and capsys.readouterr().err == "interrupted\n"


def test_the_cli_loads():
    from seqlab.cli.main import main

    assert entry.load_main() is main
