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
    logging.getLogger("seqlab").setLevel(logging.NOTSET)  # a verb may quieten seqlab's logger (demo); not the next one
    for noisy in ("matplotlib", "PIL", "urllib3", "filelock", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _register():
    from . import datasets_cmd, demo_cmd, evaluate_cmd, predict_cmd, train_cmd

    for mod in (train_cmd, evaluate_cmd, predict_cmd, demo_cmd, datasets_cmd):
        for command in mod.COMMANDS:
            cli.add_command(command)
    for optional in ("generate_cmd", "forecast_cmd", "import_hf_cmd", "translate_cmd", "serve_cmd", "export_cmd",
                     "study_cmd", "attention_cmd", "caption_cmd", "similar_cmd"):
        try:
            mod = __import__(f"seqlab.cli.{optional}", fromlist=["COMMANDS"])
        except ModuleNotFoundError as e:
            if e.name != f"seqlab.cli.{optional}":
                raise
            continue
        for command in mod.COMMANDS:
            cli.add_command(command)


_register()


_RESTORED: list = []  # run folders whose previous run main() put back after a failed --overwrite


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        try:
            cli.main(args=args, prog_name="seqlab", standalone_mode=False, obj={"argv": args})
        except BaseException:
            from ..run import restore_replaced

            _RESTORED[:] = restore_replaced()  # an --overwrite whose new run failed before its first model: the old run comes back
            raise
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
    except click.exceptions.Abort as e:  # click turns Ctrl-C (KeyboardInterrupt) into Abort
        if debug:
            raise
        click.echo(_interrupted(args) if isinstance(e.__cause__, KeyboardInterrupt) else "aborted", err=True)
        return 130
    except click.exceptions.Exit as e:
        return e.exit_code
    except KeyboardInterrupt:
        click.echo(_interrupted(args), err=True)
        return 130
    except BrokenPipeError:
        return 0
    return 0


def _interrupted(args: list[str]) -> str:
    """What Ctrl-C left behind: for ``train``, whether a checkpoint is kept and the command that continues it."""
    import shlex
    from pathlib import Path

    outs = [b for a, b in zip(args, args[1:]) if a == "--out"] + [a[6:] for a in args if a.startswith("--out=")]
    if "train" not in args or not outs:
        return "interrupted"
    out = Path(outs[-1])
    if any(Path(r) == out.resolve() for r in _RESTORED):
        return f"interrupted before the new run saved a model; the previous run in {out} is back in place"
    again = shlex.join(["seqlab", *(a for a in args if a not in ("--overwrite", "--resume")), "--resume"])
    if (out / "state.safetensors").is_file():
        return f"interrupted; the last checkpoint in {out} is kept; continue the run with: {again}"
    return f"interrupted before the first checkpoint; nothing to resume in {out}: start the run again"


if __name__ == "__main__":
    sys.exit(main())
