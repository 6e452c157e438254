"""``seqlab train ... --nproc N``: the same command on N processes of this machine, through torchrun.

It runs ``python -m torch.distributed.run --standalone --nproc_per_node N -m seqlab ARGS`` (ARGS: the
command line without ``--nproc``) and returns its exit code. torchrun picks a free port, starts the
ranks, and if one fails stops the others and reports which rank failed and why.
"""

from __future__ import annotations

import os
import subprocess
import sys

import click

from ..train import distributed


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` minus ``--nproc N`` / ``--nproc=N``."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def run_torchrun(nproc: int, argv: list[str]) -> int:
    """Launch ``seqlab ARGV`` (minus --nproc) on ``nproc`` local processes; returns torchrun's exit code."""
    if nproc < 1:
        raise click.UsageError(f"--nproc must be ≥ 1; found {nproc}")
    if distributed.launched():
        raise click.UsageError("--nproc inside torchrun: torchrun already started the processes; drop --nproc")
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))  # the cores shared out
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "seqlab", *without_nproc(argv)]
    code = subprocess.run(cmd, env=env, check=False).returncode
    if code != 0:
        click.echo(f"error: training on {nproc} processes failed (torchrun exit code {code}); "
                   "the failing rank and its error are reported above", err=True)
    return code
