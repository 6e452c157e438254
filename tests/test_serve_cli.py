"""``seqlab serve`` through the real CLI: load errors before listening (one line, exit 2), run naming, and
a graceful stop on SIGTERM (the in-flight request finishes, exit code 0)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402

from seqlab.cli.serve_cmd import parse_runs  # noqa: E402
from seqlab.errors import UserError  # noqa: E402
from serve_runs import tiny_runs  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


def test_run_names():
    assert parse_runs(("runs/nsmc/", "ko=runs/ko-en")) == {"nsmc": "runs/nsmc/", "ko": "runs/ko-en"}
    with pytest.raises(UserError, match="two runs are named 'nsmc'"):
        parse_runs(("a/nsmc", "b/nsmc"))
    with pytest.raises(UserError, match="NAME=RUN"):
        parse_runs(("=runs/x",))


def test_load_errors_are_one_line_and_exit_2(cli, tmp_path):
    code, out, err = cli("serve", tmp_path / "missing", "--port", "1")
    assert code == 2 and err.count("\n") == 1 and "cannot serve missing" in err and "no such run directory" in err
    code, _, err = cli("serve", "--max-batch", "0", tmp_path)
    assert code == 2 and "--max-batch" in err


def test_sigterm_lets_the_in_flight_request_finish_then_exits_0(tmp_path):
    lm = tiny_runs(("lm",))["lm"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "server.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "seqlab", "serve", str(lm), "--port", str(port), "--max-new-tokens", "20000"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, open(tmp_path / "server.log").read()
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        body = {"prompt": "hel", "max_new_tokens": 500, "greedy": True, "stream": True}
        with httpx.stream("POST", url + "/v1/models/lm/generate", json=body, timeout=120) as r:
            lines = r.iter_lines()
            assert next(lines).startswith("data: ")  # generating now
            proc.send_signal(signal.SIGTERM)
            rest = list(lines)
        done = [ln for ln in rest if '"generations"' in ln]
        assert done and '"new_tokens": 500' in done[0]  # the in-flight stream ran to its end
        assert proc.wait(120) == 0, open(tmp_path / "server.log").read()
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + "/health", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
