"""The FastAPI application: routes, the page at ``/``, metrics, and the lifetime of the served runs.

    GET  /                              the web page (static/, no network needed)
    GET  /health                        liveness: {"status": "ok", "models": [...]}
    GET  /v1/models                     every served run: name, task, model, labels, tokenizer, limits, metrics
    GET  /v1/models/{name}              one of them
    POST /v1/models/{name}/predict      classify | seq2seq | forecast | mlm (see schemas.PredictRequest)
    POST /v1/models/{name}/generate     lm: JSON, or Server-Sent Events with "stream": true
    GET  /metrics                       Prometheus text format
    GET  /docs                          the OpenAPI document as a page (offline); /swagger: Swagger UI (CDN)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import asdict
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ..errors import UserError
from .errors import ApiError, error_body, install_handlers
from .generation import GenerationPool, warm
from .limits import Limits
from .metrics import Metrics
from .schemas import GenerateRequest, PredictRequest
from .served import ServedModel

log = logging.getLogger(__name__)


class CountRequests:
    """Plain ASGI middleware (cheaper than ``@app.middleware``): refuses bodies over the limit by their
    Content-Length, and counts each response by route template, model and status with its latency.
    Streams are counted by their own route when they end."""

    def __init__(self, app, metrics: Metrics, served: dict, max_body_bytes: int):
        self.app, self.metrics, self.served, self.max_body = app, metrics, served, max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        size = dict(scope.get("headers") or []).get(b"content-length", b"")
        if size.isdigit() and int(size) > self.max_body:
            response = JSONResponse(error_body("too_large", f"expected a request body of at most {self.max_body} "
                                                            f"bytes (the server's limit); found {int(size)}"), status_code=413)
            await response(scope, receive, send)
            self._count(scope, 413, False, t0)
            return
        seen = {"status": 500, "stream": False}  # stays 500 if the app raises (answered as a JSON 500 further out)

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                ctype = dict(message.get("headers") or []).get(b"content-type", b"")
                seen["stream"] = ctype.startswith(b"text/event-stream")
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self._count(scope, seen["status"], seen["stream"], t0)

    def _count(self, scope, status: int, stream: bool, t0: float):
        if not stream:
            route = scope.get("route")  # set by the router on this same scope
            name = (scope.get("path_params") or {}).get("name", "")
            self.metrics.request(getattr(route, "path", None) or "other", name if name in self.served else "", status,
                                 time.perf_counter() - t0)


def create_app(runs: dict, limits: Limits | None = None, warmup: bool = True, engine: str = "torch") -> FastAPI:
    """An app serving ``runs`` (``{name: seqlab.load(...) result}``).

    For each lm run, ``limits.gen_streams - 1`` more copies are loaded from its folder (one per
    concurrent generation). ``warmup``: run each model once now, so the first request is not slow.
    ``engine``: what runs classify runs (torch | onnx | auto: the faster, measured at warm-up; engine.py).
    """
    limits = limits or Limits()
    metrics = Metrics()
    served: dict[str, ServedModel] = {}
    pools: dict[str, GenerationPool] = {}
    for name, run in runs.items():
        served[name] = ServedModel(name, run, limits, metrics, engine)
        if run.task == "lm":
            from .. import load

            device = str(getattr(run, "device", "auto"))  # the copies go where the first one is
            replicas = [run] + [load(run.path, device=device) for _ in range(limits.gen_streams - 1)]
            if warmup:
                for r in replicas:
                    warm(r)
            pools[name] = GenerationPool(name, replicas, on_cancel=lambda n=name: metrics.cancelled(n))
        elif warmup:
            served[name].warmup()

    @asynccontextmanager
    async def lifespan(_app):
        yield
        for s in served.values():  # uvicorn has let the in-flight requests finish
            s.close()

    # /docs is our own offline page over /openapi.json; FastAPI's Swagger UI (scripts from a CDN) is at /swagger
    app = FastAPI(title="seqlab serve", version="1", lifespan=lifespan, docs_url="/swagger", redoc_url=None,
                  description="Trained seqlab runs over HTTP. Errors are JSON {\"error\": {\"type\", \"message\"}}.")
    app.state.served, app.state.limits, app.state.metrics = served, limits, metrics
    install_handlers(app)

    app.add_middleware(CountRequests, metrics=metrics, served=served, max_body_bytes=limits.max_body_bytes)

    def model(name: str) -> ServedModel:
        if name not in served:
            raise ApiError(404, "not_found", f"expected a served model name; found {name!r} (served: {', '.join(served)})")
        return served[name]

    static = resources.files("seqlab.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs():
        return HTMLResponse((static / "docs.html").read_text(encoding="utf-8"))

    @app.get("/health", summary="Liveness: ok and the served model names")
    async def health():
        return {"status": "ok", "models": list(served)}

    @app.get("/v1/models", summary="Every served run: name, task, model, labels, tokenizer, max length, parameters, metrics; and the limits")
    async def models():
        return {"models": [s.info() for s in served.values()], "limits": asdict(limits)}

    @app.get("/v1/models/{name}", summary="One served run's description")
    async def model_info(name: str):
        return model(name).info()

    @app.get("/metrics", response_class=PlainTextResponse, summary="Prometheus text: requests by endpoint and status, latency, batch sizes, tokens generated")
    async def prometheus():
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/v1/models/{name}/predict", summary="classify (texts -> labels, probabilities), seq2seq (texts -> translations, n-best, attention), forecast (a series -> forecast and baselines), mlm (fill [MASK])")
    async def predict(name: str, req: PredictRequest):
        m = model(name)
        if m.task == "lm":
            raise ApiError(400, "wrong_task", f"{name} is a language model (task lm); expected POST /v1/models/{name}/generate")
        key, items = m.plan(req)
        results = await asyncio.wrap_future(m.batcher.submit(key, items))
        if m.task == "forecast":  # the forecaster's own "model" key (its architecture) becomes "architecture"
            res = dict(results[0])
            return {"model": name, "task": m.task, "architecture": res.pop("model", None), **res}
        return {"model": name, "task": m.task, "results": results}

    @app.post("/v1/models/{name}/generate", summary="lm: continue prompts with the options of `seqlab generate`; stream: true for Server-Sent Events")
    async def generate(name: str, req: GenerateRequest, request: Request):
        m = model(name)
        if name not in pools:
            raise ApiError(400, "wrong_task", f"{name} is a {m.task} run; expected an lm run for /generate "
                                              f"(use POST /v1/models/{name}/predict)")
        t0 = time.perf_counter()
        gen = await pools[name].open(req, limits)
        if not req.stream:
            done = None
            async for piece in gen.pieces():
                if "done" in piece:
                    done = piece
            metrics.generated(name, sum(g["new_tokens"] for g in done["done"]))
            return {"model": name, "generations": done["done"], "seconds": round(done["seconds"], 4),
                    "tokens_per_s": round(done["tokens_per_s"], 1), "precision": done["precision"]}

        async def events():
            status = 200
            try:
                async for piece in gen.pieces():
                    if "done" in piece:
                        metrics.generated(name, sum(g["new_tokens"] for g in piece["done"]))
                        body = {"generations": piece["done"], "seconds": round(piece["seconds"], 4),
                                "tokens_per_s": round(piece["tokens_per_s"], 1), "precision": piece["precision"]}
                        yield f"event: done\ndata: {json.dumps(body, ensure_ascii=False)}\n\n"
                    else:
                        yield f"data: {json.dumps(piece, ensure_ascii=False)}\n\n"
            except (UserError, ApiError) as e:
                status = 422
                yield f"event: error\ndata: {json.dumps(error_body('invalid_input', str(e)), ensure_ascii=False)}\n\n"
            except Exception as e:  # noqa: BLE001 - the stream has started: report in-band
                status = 500
                log.exception("generation failed mid-stream")
                yield f"event: error\ndata: {json.dumps(error_body('internal', type(e).__name__))}\n\n"
            finally:
                gen.cancel.set()  # a client that left stops its generation at the next piece
                metrics.request("/v1/models/{name}/generate", name, status, time.perf_counter() - t0)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app
