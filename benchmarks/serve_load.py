"""Load and faults for ``seqlab serve``, on loopback only, bounded in count and time.

Three parts, each against a real ``seqlab serve`` subprocess on 127.0.0.1 (so the server's RSS is measured
on its own process and the clients never share its interpreter):

1. **Micro-batching**: ``--requests`` classify requests (one text each) from ``--clients`` concurrent clients
   against a bi-GRU run; throughput and p50/p99 latency with ``--max-batch 32`` and with ``--max-batch 1``,
   for each server ``--engine`` in ``--engines`` (auto: ONNX Runtime where measured faster; torch).
   Target (issue 13): >= 3x the throughput of ``--max-batch 1`` at <= its p99.
2. **Streaming generation**: ``--gen-clients`` concurrent streaming clients vs one client against an lm
   run (the server started with ``--gen-streams`` = clients); generated tokens/s in total.
3. **Faults**: the load of part 1 with 10% malformed or oversized requests mixed in: every good request must
   get the label the run itself gives, every bad one a 4xx JSON error; the server's RSS before and after,
   and it must still answer /health.

Runs (bi-GRU classifier, GPT lm) are trained first unless given with ``--clf`` / ``--lm``.

    python benchmarks/serve_load.py                  # the full run: 1,000+ requests, 32 clients (minutes)
    python benchmarks/serve_load.py --smoke          # seconds: tiny runs, 64 requests, 8 clients; prints only
    python benchmarks/serve_load.py --json benchmarks/results/serve_load.json

Timing caveat: client and server share the machine's cores; on a busy machine the ratios mean little.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
SERVER_CPUS: set[int] = set()  # --pin: the server's cores (the clients get the rest); empty = not pinned


def pin(mode: str) -> dict:
    """``auto``/``on``: the last core for this process (the clients), the others for the server, as a
    client on another machine would leave them; ``off``: both share every core."""
    global SERVER_CPUS
    cpus = sorted(os.sched_getaffinity(0))
    if mode == "off" or len(cpus) < 2:
        return {"pinned": False, "cpus": len(cpus)}
    SERVER_CPUS = set(cpus[:-1])
    os.sched_setaffinity(0, {cpus[-1]})
    return {"pinned": True, "server_cpus": sorted(SERVER_CPUS), "client_cpus": [cpus[-1]]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(kind: str, out: Path, smoke: bool) -> Path:
    """A bi-GRU classifier or a char GPT on built-in data (no download)."""
    from seqlab.cli.main import main

    if kind == "clf":
        hidden, n = ("16", "300") if smoke else ("128", "4000")
        args = ["train", "classify", "--data", f"builtin:longrange?distance=20&n={n}", "--model", "gru",
                "--set", f"model.hidden={hidden}", "--set", "model.bidirectional=true", "--epochs", "1" if smoke else "3"]
    else:  # random words, one line after another: a text that never ends, so generation runs its full length
        rng = random.Random(0)
        words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "red", "house", "by", "sea"]
        text = out.parent / "words.txt"
        text.write_text("".join(" ".join(rng.choice(words) for _ in range(rng.randint(5, 12))) + "\n"
                                for _ in range(300 if smoke else 3000)))
        args = ["train", "lm", "--data", str(text), "--model", "gpt", "--block-size", "32",
                "--set", "model.n_layer=1" if smoke else "model.n_layer=4", "--set", "model.n_embd=32" if smoke else "model.n_embd=128",
                "--set", "model.n_head=2", "--epochs", "1" if smoke else "2"]
    code = main(["-q", *args, "--precision", "fp32", "--seed", "0", "--out", str(out), "--overwrite"])
    if code != 0:
        raise SystemExit(f"training the {kind} run failed")
    return out


class Server:
    """``seqlab serve`` in a subprocess; ``.url``, ``.pid``; stopped with SIGTERM (must exit 0)."""

    def __init__(self, runs: list[str], *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        cpus = SERVER_CPUS
        if cpus:  # the server on its own cores, its PyTorch threads one per core
            env["OMP_NUM_THREADS"] = str(len(cpus))
        self.log = tempfile.TemporaryFile()  # the server's stderr (a pipe nobody reads could fill and block it)
        self.proc = subprocess.Popen([sys.executable, "-m", "seqlab", "-q", "serve", *runs, "--port", str(self.port), *flags],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        deadline = time.monotonic() + 300
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise SystemExit(f"the server exited {self.proc.returncode}: {self.log.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start within 300 s")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.pid).memory_info().rss / 2**20

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: the load generator's client. A load generator
    must cost far less than the server it measures (wrk and oha are native code for that reason); httpx
    spends about a millisecond of CPU per request, which on a shared 2-core machine would be counted against
    the server. Requests are encoded before the clock starts; a response is read by its Content-Length."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
                          % (path.encode(), self.host.encode(), len(body)) + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        data = await self.reader.readexactly(int(headers.get("content-length", 0)))
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.reader = self.writer = None
        return status, data

    def close(self):
        if self.writer is not None:
            self.writer.close()


def encode(body) -> bytes:
    return body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()


async def drive(url: str, bodies: list, clients: int, time_limit: float, warm: list | None = None) -> tuple[list[dict], float]:
    """Send ``bodies`` ((path, dict | str | bytes) pairs) from ``clients`` concurrent keep-alive connections;
    returns each result (status, seconds, json) and the wall time. ``warm``: requests sent first on the same
    connections (each connection opened and used at least once) and not counted: the clock starts when
    every connection is warm, so the numbers are the steady state, not 32 connection set-ups."""
    host, port = url.split("//")[1].split(":")
    encoded = [(path, encode(b)) for path, b in bodies]
    warm_q: asyncio.Queue = asyncio.Queue()
    for b in warm or []:
        warm_q.put_nowait((b[0], encode(b[1])))
    queue: asyncio.Queue = asyncio.Queue()
    for i, b in enumerate(encoded):
        queue.put_nowait((i, b))
    raw: list = [None] * len(bodies)
    ready, go = [0], asyncio.Event()
    start: list[float] = []

    async def client():
        conn = Connection(host, int(port))
        try:
            while not warm_q.empty():
                await conn.post(*warm_q.get_nowait())
            ready[0] += 1
            if ready[0] == clients:
                start.append(time.perf_counter())
                go.set()
            await go.wait()
            deadline = start[0] + time_limit
            while not queue.empty() and time.perf_counter() < deadline:
                i, (path, body) = queue.get_nowait()
                t0 = time.perf_counter()
                status, data = await conn.post(path, body)
                raw[i] = (status, time.perf_counter() - t0, data)
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - start[0]
    return [{"status": r[0], "seconds": r[1], "json": json.loads(r[2])} for r in raw if r is not None], wall


def texts_for(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(f"t{rng.randint(0, 19)}" for _ in range(rng.randint(20, 60))) for _ in range(n)]


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def classify_load(clf: str, n: int, clients: int, max_batch: int, limit: float, engine: str = "auto") -> dict:
    server = Server([f"clf={clf}"], "--max-batch", str(max_batch), "--max-wait-ms", "5", "--engine", engine)
    try:
        chosen = httpx.get(server.url + "/v1/models/clf", timeout=10).json()["engine"]
        bodies = [("/v1/models/clf/predict", {"text": t}) for t in texts_for(n)]
        res, wall = asyncio.run(drive(server.url, bodies, clients, limit, warm=bodies[: clients * 4]))
    finally:
        code = server.stop()
    lat = [r["seconds"] for r in res]
    return {"max_batch": max_batch, "engine": chosen, "requests": len(res), "ok": sum(r["status"] == 200 for r in res),
            "seconds": round(wall, 3), "requests_per_s": round(len(res) / wall, 1),
            "p50_ms": round(1000 * percentile(lat, 50), 2), "p99_ms": round(1000 * percentile(lat, 99), 2), "exit_code": code}


async def stream_tokens(url: str, clients: int, max_new: int) -> dict:
    async def one(c: httpx.AsyncClient, i: int) -> int:
        body = {"prompt": "the", "max_new_tokens": max_new, "greedy": False, "seed": i, "stream": True}
        tokens = 0
        async with c.stream("POST", url + "/v1/models/lm/generate", json=body) as r:
            async for line in r.aiter_lines():
                if line.startswith("data: ") and '"generations"' in line:
                    tokens = sum(g["new_tokens"] for g in json.loads(line[6:])["generations"])
        return tokens

    async with httpx.AsyncClient(timeout=300) as c:
        t0 = time.perf_counter()
        counts = await asyncio.gather(*(one(c, i) for i in range(clients)))
        wall = time.perf_counter() - t0
    return {"clients": clients, "tokens": sum(counts), "seconds": round(wall, 3), "tokens_per_s": round(sum(counts) / wall, 1)}


def generation_load(lm: str, clients: int, max_new: int) -> dict:
    server = Server([f"lm={lm}"], "--gen-streams", str(clients), "--max-new-tokens", str(max_new))
    try:
        asyncio.run(stream_tokens(server.url, 1, 8))  # warm
        one = asyncio.run(stream_tokens(server.url, 1, max_new))
        many = asyncio.run(stream_tokens(server.url, clients, max_new))
    finally:
        code = server.stop()
    return {"one_client": one, "concurrent": many, "ratio": round(many["tokens_per_s"] / one["tokens_per_s"], 2), "exit_code": code}


def bad_bodies(rng: random.Random) -> list:
    """Malformed or oversized requests: every one must get a 4xx JSON error."""
    return [
        ("/v1/models/clf/predict", "{not json"),
        ("/v1/models/clf/predict", {"texts": "not a list"}),
        ("/v1/models/clf/predict", {"texts": [""]}),
        ("/v1/models/clf/predict", {"texts": ["t1 " * 4000]}),          # over --max-chars
        ("/v1/models/clf/predict", {"texts": ["t1"] * 100}),             # over --max-texts
        ("/v1/models/clf/predict", {"texts": [1, 2]}),
        ("/v1/models/nope/predict", {"texts": ["t1"]}),
        ("/v1/models/clf/predict", b"x" * (9 * 2**20)),                  # over the body limit
    ][rng.randrange(8)]


def faults(clf: str, n: int, clients: int, limit: float) -> dict:
    import seqlab

    run = seqlab.load(clf)
    rng = random.Random(1)
    texts = texts_for(n, seed=2)
    expected = [r["label"] for r in run.predict(texts)]
    bodies, kinds = [], []
    for t in texts:
        if rng.random() < 0.1:
            bodies.append(bad_bodies(rng))
            kinds.append(None)
        bodies.append(("/v1/models/clf/predict", {"text": t}))
        kinds.append(len(kinds))
    good_label = {}
    j = 0
    for i, k in enumerate(kinds):
        if k is not None:
            good_label[i] = expected[j]
            j += 1
    server = Server([f"clf={clf}"], "--max-batch", "32", "--max-chars", "5000", "--max-texts", "64")
    try:
        asyncio.run(drive(server.url, [("/v1/models/clf/predict", {"text": "t1 t2"})] * 64, clients, limit))
        rss0 = server.rss_mb()
        res, _ = asyncio.run(drive(server.url, bodies, clients, limit))
        rss1 = server.rss_mb()
        alive = httpx.get(server.url + "/health", timeout=10).status_code == 200
    finally:
        code = server.stop()
    good = [(r, good_label[i]) for i, r in enumerate(res) if i in good_label]
    bad = [r for i, r in enumerate(res) if i not in good_label]
    return {"requests": len(res), "good": len(good), "bad": len(bad),
            "good_correct": sum(r["status"] == 200 and r["json"]["results"][0]["label"] == lab for r, lab in good),
            "bad_4xx_json": sum(400 <= r["status"] < 500 and "error" in r["json"] for r in bad),
            "any_5xx": sum(r["status"] >= 500 for r in res), "rss_mb_before": round(rss0, 1),
            "rss_mb_after": round(rss1, 1), "alive_after": alive, "exit_code": code}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clf", help="a bi-GRU classify run (default: train one on builtin:longrange)")
    ap.add_argument("--lm", help="an lm run (default: train a small GPT on generated lines of words)")
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--gen-clients", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=200)
    ap.add_argument("--time-limit", type=float, default=300, help="seconds per load phase at most")
    ap.add_argument("--smoke", action="store_true", help="seconds: tiny runs, 64 requests, 8 clients; prints only")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--engines", nargs="+", default=["auto", "torch"], choices=["auto", "torch", "onnx"],
                    help="the server's --engine for the classify load, each measured (default: auto and torch)")
    ap.add_argument("--pin", choices=["auto", "off"], default="auto",
                    help="auto: the server on all cores but the last, the clients on the last (default); off: shared")
    a = ap.parse_args()
    if a.smoke:
        a.requests, a.clients, a.gen_clients, a.max_new_tokens, a.time_limit = 64, 8, 2, 16, 60
    with tempfile.TemporaryDirectory() as tmp:
        clf = a.clf or str(train("clf", Path(tmp) / "clf", a.smoke))
        lm = a.lm or str(train("lm", Path(tmp) / "lm", a.smoke))
        placement = pin(a.pin)  # after training, which uses every core
        out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
               "cpus": os.cpu_count(), "python": platform.python_version(), "smoke": a.smoke,
               "command": " ".join(sys.argv), "placement": placement, "clf_run": clf if a.clf else "trained: bi-GRU on builtin:longrange",
               "lm_run": lm if a.lm else "trained: GPT on 3,000 lines of random words"}
        for engine in a.engines:  # the server's --engine: auto (its default) and torch (PyTorch only)
            batched = classify_load(clf, a.requests, a.clients, 32, a.time_limit, engine)
            single = classify_load(clf, a.requests, a.clients, 1, a.time_limit, engine)
            out.setdefault("classify", {})[engine] = {
                "batched": batched, "max_batch_1": single,
                "throughput_ratio": round(batched["requests_per_s"] / single["requests_per_s"], 2),
                "p99_ratio": round(batched["p99_ms"] / single["p99_ms"], 2)}
        out["generation"] = generation_load(lm, a.gen_clients, a.max_new_tokens)
        out["faults"] = faults(clf, a.requests, a.clients, a.time_limit)
    f = out["faults"]
    loads = [p for c in out["classify"].values() for p in (c["batched"], c["max_batch_1"])]
    ok = (f["good_correct"] == f["good"] and f["bad_4xx_json"] == f["bad"] and f["any_5xx"] == 0 and f["alive_after"]
          and all(p["exit_code"] == 0 for p in (*loads, out["generation"], f)))
    out["faults_ok"] = ok
    print(json.dumps(out, indent=2))
    if a.json and not a.smoke:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
