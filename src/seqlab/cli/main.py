"""The ``seqlab`` command: a click group whose verbs live one per module.

Errors: a :class:`~seqlab.errors.UserError` (or a click usage error) prints one line on stderr and
exits with code 2; ``seqlab --debug VERB ...`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys

import click

from ..errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and results; no progress bars.")
@click.version_option(package_name="seqlab")
@click.pass_context
def cli(ctx, debug, quiet):
    """seqlab: sequence models from the plain RNN to GPT, trained and explained on real data.

    \b
    Start here:
      seqlab demo                                  # the notes' first lesson, measured (< 3 min)
      seqlab datasets                              # built-in and known public datasets
      seqlab train classify --data reviews.csv --model lstm --out runs/lstm
      seqlab evaluate runs/lstm --data test.csv --json
      seqlab predict runs/lstm "정말 강추 합니다"
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["quiet"] = quiet
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr, force=True)
    for noisy in ("matplotlib", "PIL", "urllib3", "filelock", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _register():
    from . import datasets_cmd, demo_cmd, evaluate_cmd, predict_cmd, train_cmd

    for mod in (train_cmd, evaluate_cmd, predict_cmd, demo_cmd, datasets_cmd):
        for command in mod.COMMANDS:
            cli.add_command(command)
    for optional in ("generate_cmd", "forecast_cmd", "import_hf_cmd", "translate_cmd", "study_cmd", "attention_cmd"):
        try:
            mod = __import__(f"seqlab.cli.{optional}", fromlist=["COMMANDS"])
        except ModuleNotFoundError as e:
            if e.name != f"seqlab.cli.{optional}":
                raise
            continue
        for command in mod.COMMANDS:
            cli.add_command(command)


_register()


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="seqlab", standalone_mode=False)
    except UserError as e:
        if debug:
            raise
        click.echo(f"error: {e}", err=True)
        return 2
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e), err=True)
        return 2
    except click.UsageError as e:
        if debug:
            raise
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        click.echo(f"error: {e.format_message()}{hint}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.exceptions.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted; the last checkpoint is kept (continue with --resume)", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
