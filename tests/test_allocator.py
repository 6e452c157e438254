"""SEQLAB_ALLOCATOR: the command starts itself again with the allocator preloaded (by default tcmalloc where it is
installed), once, with the same command line; a bad value or a named library that is missing is a one-line error
with exit code 2; system, or no library for auto, runs on as it is; importing seqlab never restarts anything."""

import json
import os
import subprocess
import sys

import pytest

from seqlab import allocator

ENV = {k: v for k, v in os.environ.items() if k not in (allocator.ENV, "LD_PRELOAD", allocator._DONE)}
ENV["OMP_NUM_THREADS"] = "1"
PROBE = "from seqlab import allocator; allocator.reexec(); print(allocator.in_use(), os.environ.get('LD_PRELOAD', ''))"
NAMES = sorted(allocator.LIBRARIES)


def installed(name):
    return pytest.param(name, marks=pytest.mark.skipif(
        allocator.find(name) is None or not sys.platform.startswith("linux"),
        reason=f"{name} not installed (Debian: apt-get install {allocator.PACKAGES[name]})"))


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", f"import os; {code}"], env={**ENV, **env}, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def execs(monkeypatch):
    """os.execve recorded instead of run; the library 'found'; this process 'not on jemalloc'."""
    calls = []
    monkeypatch.setattr(allocator.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.setattr(allocator, "find", lambda name: f"/opt/x/lib{name}.so")
    monkeypatch.setattr(allocator, "in_use", lambda: "system")
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    for k in (allocator.ENV, "LD_PRELOAD", allocator._DONE):
        monkeypatch.delenv(k, raising=False)
    return calls


@pytest.mark.parametrize("name", NAMES)
def test_restarts_with_the_same_command_line_and_the_library_preloaded(execs, monkeypatch, name):
    monkeypatch.setenv(allocator.ENV, name.upper())
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/other.so")
    allocator.reexec()
    assert len(execs) == 1
    path, argv, env = execs[0]
    assert path == sys.executable and argv == [sys.executable, *sys.orig_argv[1:]]
    assert env["LD_PRELOAD"] == f"/opt/x/lib{name}.so:/usr/lib/other.so" and env[allocator._DONE] == "1"


def test_auto_is_tcmalloc_where_installed_and_nothing_elsewhere(execs, monkeypatch):
    allocator.reexec()
    assert [e[2]["LD_PRELOAD"] for e in execs] == ["/opt/x/libtcmalloc.so"]
    assert execs[0][2]["TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD"] == str(1 << 60)
    execs.clear()
    monkeypatch.setattr(allocator, "find", lambda _: None)
    allocator.reexec()
    assert execs == []


@pytest.mark.parametrize("env", [{allocator.ENV: "system"}, {allocator._DONE: "1"},
                                 {allocator.ENV: "tcmalloc", "LD_PRELOAD": "/usr/lib/libjemalloc.so.2"},
                                 {allocator.ENV: "jemalloc", "LD_PRELOAD": "/usr/lib/libtcmalloc_minimal.so.4"}])
def test_no_restart_by_default_when_done_or_with_an_allocator_preloaded(execs, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    allocator.reexec()
    assert execs == []


@pytest.mark.parametrize("name", NAMES)
def test_a_missing_library_says_what_to_install(execs, monkeypatch, name):
    monkeypatch.setattr(allocator, "find", lambda _: None)
    monkeypatch.setenv(allocator.ENV, name)
    with pytest.raises(ValueError, match=f"apt-get install {allocator.PACKAGES[name]}"):
        allocator.reexec()
    assert execs == []


def test_bad_value_is_a_one_line_error_with_exit_code_2():
    p = subprocess.run([sys.executable, "-m", "seqlab", "--version"], env={**ENV, allocator.ENV: "mimalloc"},
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "error: SEQLAB_ALLOCATOR must be one of auto, system, tcmalloc, jemalloc; got 'mimalloc' (unset it for the default, auto)"]


@pytest.mark.parametrize("name", [installed(n) for n in NAMES])
def test_a_real_restart_runs_under_the_allocator_once(name):
    out = _python(PROBE, **{allocator.ENV: name})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [name, allocator.find(name)]  # the probe printed once: one restart
    assert _python(PROBE, **{allocator.ENV: "system"}).stdout.split() == ["system"]


def test_importing_seqlab_restarts_nothing():
    out = _python("import seqlab, seqlab.cli.main; from seqlab import allocator; print(allocator.in_use())",
                  **{allocator.ENV: "tcmalloc"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["system"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [installed("tcmalloc")])
def test_the_plain_command_trains_under_tcmalloc_and_says_so(tmp_path, name):
    cmd = [sys.executable, "-m", "seqlab", "-q", "train", "classify", "--data", "builtin:longrange?distance=4&n=64",
           "--model", "gru", "--epochs", "1", "--batch-size", "16", "--precision", "fp32", "--set", "model.hidden=8",
           "--set", "model.embed_dim=8", "--out", str(tmp_path / "run"), "--json"]
    p = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)  # SEQLAB_ALLOCATOR unset: auto
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["allocator"] == name
