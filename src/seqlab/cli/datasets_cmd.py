"""``seqlab datasets``: what ``--data`` accepts besides a file."""

from __future__ import annotations

import os

import click

from ..data.builtin import BUILTINS
from ..data.datasets import DATASETS, cache_dir


@click.command("datasets")
def datasets():
    """List the built-in generated datasets and the known public datasets.

    \b
    Examples:
      seqlab datasets
      SEQLAB_DATA_MIRROR=../shared/data seqlab train classify --data sst2 --model lstm --out runs/sst2
    """
    click.echo("built-in (generated, no download): --data builtin:NAME?param=value&...")
    for b in BUILTINS.values():
        click.echo(f"  builtin:{b.name:<14} {b.task:<9} {b.description}  [{b.params}]")
    mirror = os.environ.get("SEQLAB_DATA_MIRROR")
    where = f"mirror {mirror}" if mirror else f"cache {cache_dir()} (downloaded on first use; set SEQLAB_DATA_MIRROR to use a local copy)"
    click.echo(f"\nknown public datasets: --data NAME[:CONFIG][?split=SPLIT]   read from the {where}")
    for d in DATASETS.values():
        conf = f" configs: {', '.join(d.configs)}." if d.configs else ""
        click.echo(f"  {d.name:<22} {d.task:<9} {d.description}. splits: {', '.join(d.files) if not d.configs else 'train, val, test_2016_flickr'}.{conf}")


COMMANDS = [datasets]
