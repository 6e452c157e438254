"""``seqlab serve RUN [RUN ...]``: trained runs behind an HTTP API and a web page (FastAPI + uvicorn)."""

from __future__ import annotations

import gc
import logging
import signal
from pathlib import Path

import click

from ..errors import UserError


def parse_runs(specs: tuple[str, ...]) -> dict[str, str]:
    """``RUN`` or ``NAME=RUN`` -> {name: folder}; the name defaults to the folder's name."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec.rstrip("/")).name, spec
        if not name or not path:
            raise UserError(f"expected RUN or NAME=RUN; found {spec!r}")
        if name in out:
            raise UserError(f"two runs are named {name!r} ({out[name]} and {path}); name them apart with NAME=RUN")
        out[name] = path
    return out


@click.command("serve")
@click.argument("runs", nargs=-1, required=True, metavar="RUN [RUN ...]")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback; 0.0.0.0 opens it to the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--max-batch", type=click.IntRange(1), default=32, show_default=True, help="Most inputs run as one micro-batch (1 = no batching).")
@click.option("--max-wait-ms", type=click.FloatRange(0), default=5.0, show_default=True, help="Longest a request waits for others to join its batch.")
@click.option("--max-texts", type=click.IntRange(1), default=64, show_default=True, help="Most texts or prompts in one request.")
@click.option("--max-chars", type=click.IntRange(1), default=5000, show_default=True, help="Longest text in characters (longer: 413).")
@click.option("--max-new-tokens", type=click.IntRange(1), default=512, show_default=True, help="Cap on max_new_tokens of /generate.")
@click.option("--gen-streams", type=click.IntRange(1), default=2, show_default=True, help="Concurrent generations per lm run (one model copy each).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where the models run (auto: CUDA when present).")
@click.option("--engine", type=click.Choice(["auto", "torch", "onnx"]), default="auto", show_default=True,
              help="What runs classify runs: auto = ONNX Runtime where it is clearly faster (measured at start-up, "
                   "needs the export extra), else PyTorch.")
@click.option("--workers", type=click.IntRange(1, 1), default=1, show_default=True,
              help="Server processes (1: every run is loaded once, in this process).")
def serve(runs, host, port, max_batch, max_wait_ms, max_texts, max_chars, max_new_tokens, gen_streams, device, engine,
          workers):
    """Serve trained runs: a JSON API under /v1, a web page at /, OpenAPI at /docs, metrics at /metrics.

    Each RUN is a run folder, named by its folder name, or NAME=RUN. Every run is loaded and warmed up
    before the server listens; Ctrl-C or SIGTERM lets in-flight requests finish, then exits.

    \b
    Examples:
      seqlab serve runs/nsmc runs/shakespeare            # http://127.0.0.1:8000/
      seqlab serve sent=runs/nsmc --port 8080 --max-batch 64
      curl -s localhost:8000/v1/models/nsmc/predict -H 'content-type: application/json' -d '{"texts": ["정말 강추 합니다"]}'
    """
    try:
        import uvicorn

        from ..serve import Limits, create_app
    except ModuleNotFoundError as e:
        raise UserError(f"seqlab serve needs the serve extra ({e.name} is missing): pip install 'seqlab[serve]'") from None
    from .. import load

    try:
        limits = Limits(max_batch=max_batch, max_wait_ms=max_wait_ms, max_texts=max_texts, max_chars=max_chars,
                        max_new_tokens=max_new_tokens, gen_streams=gen_streams)
    except ValueError as e:
        raise UserError(str(e)) from None
    log = logging.getLogger("seqlab.serve")
    loaded = {}
    for name, path in parse_runs(runs).items():
        try:
            loaded[name] = load(path, device=device)
        except UserError as e:
            raise UserError(f"cannot serve {name}: {e}") from None
        log.info("loaded %s: %s", name, loaded[name])
    try:
        app = create_app(loaded, limits, engine=engine)  # warms every run up (and picks each classifier's engine)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - a run that fails its warm-up is a load error: one line, exit 2
        raise UserError(f"a run failed its warm-up ({type(e).__name__}: {e}); check it with seqlab predict") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who can reach this address can use the models", host)
    click.echo(f"serving {', '.join(loaded)} on http://{host}:{port}/  (API docs: /docs; Ctrl-C stops)", err=True)
    # the models, libraries and warm-up left ~10^6 long-lived objects; without this every full garbage
    # collection walks them all (~100 ms, a whole batch of requests stalled: serve_load saw it as the p99)
    gc.collect()
    gc.freeze()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=30))
    # uvicorn handles SIGTERM/SIGINT itself (stop accepting, let in-flight requests finish, close) and then
    # re-sends the signal to the process; these no-op handlers receive it, so a graceful stop exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    if not server.started:
        raise UserError(f"could not listen on {host}:{port} (is the port in use? choose another with --port)")
    click.echo("stopped", err=True)


COMMANDS = [serve]
