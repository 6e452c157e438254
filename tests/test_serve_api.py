"""The HTTP API of ``seqlab serve`` on tiny trained runs: every endpoint, answers equal to the loaded
run's own, micro-batching that changes no result, SSE streaming with stop strings, a client that leaves
mid-stream, /metrics, and every bad input a 4xx JSON error (never a 500)."""

from __future__ import annotations

import json
import random
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import seqlab  # noqa: E402
from seqlab.serve import Limits, create_app  # noqa: E402
from seqlab.serve.metrics import Metrics  # noqa: E402
from seqlab.serve.served import ServedModel  # noqa: E402
from serve_runs import LiveServer, tiny_runs  # noqa: E402


@pytest.fixture(scope="module")
def runs():
    return {name: seqlab.load(path) for name, path in tiny_runs().items()}


@pytest.fixture(scope="module")
def client(runs):
    app = create_app(runs, Limits(max_texts=8, max_chars=200, max_new_tokens=64, max_body_bytes=100_000))
    with TestClient(app) as c:
        yield c


def sine_csv(n=120) -> str:
    from seqlab.data.builtin_series import make_series

    return make_series("sine", n=n).to_csv(index=False)


def post(client, path, body):
    r = client.post(path, json=body)
    return r.status_code, r.json()


# ---- the happy paths, each compared with the loaded run itself
def test_health_models_docs_and_page(client, runs):
    assert client.get("/health").json() == {"status": "ok", "models": list(runs)}
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(models) == set(runs)
    assert models["clf"]["labels"] == runs["clf"].labels and models["clf"]["task"] == "classify"
    assert models["clf"]["parameters"] == sum(p.numel() for p in runs["clf"].module.parameters())
    assert models["clf"]["metrics"]["best_accuracy"] > 0 and models["clf"]["max_length"] == 256
    assert models["s2s"]["tokenizer"] == {"source": "word", "target": "word"} and models["s2s"]["attention"]
    assert models["fc"]["horizon"] == 12 and models["fc"]["targets"] == ["value"]
    assert "test" in models["fc"]["metrics"] and "naive" in models["fc"]["metrics"]["test"]["baselines"]
    assert client.get("/v1/models/lm").json()["task"] == "lm"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/models/{name}/predict" in paths and "/v1/models/{name}/generate" in paths
    assert client.get("/docs").status_code == 200 and "/static/docs.js" in client.get("/docs").text  # offline
    assert client.get("/swagger").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"] and 'id="model"' in page.text
    assert "getReader" in client.get("/static/app.js").text and "Noto Sans CJK KR" in client.get("/static/style.css").text


def test_classify_matches_the_run(client, runs):
    texts = ["classa x y z", "정말 강추 합니다"]
    status, body = post(client, "/v1/models/clf/predict", {"texts": texts})
    assert status == 200 and body["task"] == "classify"
    for got, want in zip(body["results"], runs["clf"].predict(texts)):
        assert got["label"] == want["label"] and got["probs"] == pytest.approx(want["probs"], abs=2e-6)
        assert got["truncated"] is False and sum(got["probs"].values()) == pytest.approx(1, abs=1e-4)


def test_translate_with_n_best_and_attention(client, runs):
    status, body = post(client, "/v1/models/s2s/predict", {"text": "저는 강사 입니다", "beam": 3, "n_best": 2, "attention": True})
    assert status == 200
    r = body["results"][0]
    want = runs["s2s"].predict(["저는 강사 입니다"], beam=3, n_best=2)[0]
    assert r["translation"] == want["translation"] and [h["translation"] for h in r["n_best"]] == [h["translation"] for h in want["n_best"]]
    att = r["attention"]
    assert att["source"] == ["저는", "강사", "입니다"]
    assert len(att["weights"]) == len(att["target"]) and all(len(row) == 3 for row in att["weights"])
    assert all(sum(row) == pytest.approx(1, abs=1e-3) for row in att["weights"])  # a softmax over the source
    assert att["target"][: len(r["translation"].split())] == r["translation"].split()


def test_forecast_from_csv_columns_and_builtin(client, runs, tmp_path):
    csv = sine_csv()
    status, body = post(client, "/v1/models/fc/predict", {"csv": csv, "horizon": 5, "history": 30})
    assert status == 200, body
    path = tmp_path / "s.csv"
    path.write_text(csv)
    want = runs["fc"].forecast(str(path), horizon=5)
    assert body["times"] == want["times"] and body["forecast"] == want["forecast"] and body["architecture"] == "dlinear"
    last = float(csv.strip().splitlines()[-1].split(",")[1])
    assert body["baselines"]["naive"]["value"] == [pytest.approx(last)] * 5
    assert len(body["baselines"]["seasonal_naive"]["value"]) == 5
    assert len(body["history"]["times"]) == 30 and body["history"]["times"][-1] == body["origin"]
    lines = [ln.split(",") for ln in csv.strip().splitlines()[1:]]
    status, cols = post(client, "/v1/models/fc/predict", {"columns": {"time": [t for t, _ in lines], "value": [float(v) for _, v in lines]}, "horizon": 5})
    assert status == 200 and cols["forecast"]["value"] == pytest.approx(body["forecast"]["value"], abs=1e-5)
    status, err = post(client, "/v1/models/fc/predict", {"csv": csv.replace("value", "other")})
    assert status == 422 and "the request's series" in err["error"]["message"] and "/tmp" not in err["error"]["message"]
    status, built = post(client, "/v1/models/fc/predict", {"data": "builtin:sine?n=120"})
    assert status == 200 and len(built["times"]) == 12  # the run's horizon by default
    status, own = post(client, "/v1/models/fc/predict", {"horizon": 3})  # the run's own data: builtin:sine?n=400
    assert status == 200 and own["origin"] == "2020-01-17 15:00:00" and len(own["forecast"]["value"]) == 3


def test_generate_json_equals_the_run_and_streams_with_stop_across_tokens(client, runs):
    status, body = post(client, "/v1/models/lm/generate", {"prompt": "hel", "max_new_tokens": 24, "greedy": True, "precision": "fp32"})
    assert status == 200
    text = body["generations"][0]["text"]
    assert text == runs["lm"].generate("hel", 24, greedy=True, precision="fp32")[0]["text"] and len(text) == 24
    # a stop text of two characters (two tokens of this char-level model) first seen after the start
    i = next(i for i in range(2, len(text) - 1) if text.index(text[i:i + 2]) == i)
    stop = text[i:i + 2]
    with client.stream("POST", "/v1/models/lm/generate", json={"prompt": "hel", "max_new_tokens": 24, "greedy": True,
                                                               "precision": "fp32", "stop": stop, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [e for e in r.read().decode().split("\n\n") if e.strip()]
    pieces = [json.loads(e[len("data: "):]) for e in events if e.startswith("data: ")]
    done = json.loads(events[-1].split("data: ", 1)[1])
    assert events[-1].startswith("event: done") and len(pieces) >= 2
    streamed = "".join(p["text"] for p in pieces)
    assert streamed == text[: text.index(stop)] == done["generations"][0]["text"]
    assert done["generations"][0]["stop_reason"] == "stop" and stop not in streamed


def test_sampling_is_seeded(client):
    body = {"prompt": "h", "max_new_tokens": 16, "temperature": 1.5, "top_k": 5, "top_p": 0.9, "repetition_penalty": 1.2,
            "seed": 7, "num_samples": 2, "precision": "fp32"}
    a, b = post(client, "/v1/models/lm/generate", body)[1], post(client, "/v1/models/lm/generate", body)[1]
    assert [g["text"] for g in a["generations"]] == [g["text"] for g in b["generations"]] and len(a["generations"]) == 2


# ---- micro-batching
def test_micro_batched_results_equal_running_alone(runs):
    """40 classify requests of different lengths gathered into one batch, each compared with running alone."""
    clf = runs["clf"]
    rng = random.Random(0)
    vocab = [t for t in clf.tokenizer.itos if not t.startswith("<")]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 30))) for _ in range(40)]
    metrics = Metrics()
    served = ServedModel("clf", clf, Limits(max_batch=40, max_wait_ms=60_000), metrics)
    futures = [served.batcher.submit(("classify",), [t]) for t in texts]  # the batch fills: no waiting on a clock
    got = [f.result(30)[0] for f in futures]
    served.close()
    assert metrics.batch["clf"].n == 1 and metrics.batch["clf"].sum == 40  # one batch of 40
    for t, g in zip(texts, got):
        alone = clf.predict([t])[0]
        assert g["label"] == alone["label"]
        assert g["probs"] == pytest.approx(alone["probs"], abs=2e-6)  # float32 sums in another order: last digit
    s2s = runs["s2s"]
    src = ["저는 강사 입니다", "저는 학생 입니다", "친구 는 커피 를 좋아 합니다", "저는"]
    served = ServedModel("s2s", s2s, Limits(max_batch=4, max_wait_ms=60_000), Metrics())
    futures = [served.batcher.submit(("seq2seq", 3, 2), [t]) for t in src]
    assert [f.result(30)[0] for f in futures] == [s2s.predict([t], beam=3, n_best=2)[0] for t in src]
    served.close()


def test_concurrent_http_requests_get_their_own_answers(runs):
    from concurrent.futures import ThreadPoolExecutor

    app = create_app({"clf": runs["clf"]}, Limits(max_batch=16, max_wait_ms=20), warmup=False)
    texts = [f"classa {' x' * i}" for i in range(24)]
    with TestClient(app) as c, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda t: c.post("/v1/models/clf/predict", json={"text": t}).json(), texts))
    for t, a in zip(texts, answers):
        assert a["results"][0]["label"] == runs["clf"].predict([t])[0]["label"]


# ---- bad input: always a 4xx JSON error that says what was expected and what was found
BAD = [
    ("/v1/models/clf/predict", "{not json", 400, "invalid_json", "malformed JSON"),
    ("/v1/models/clf/predict", [1, 2], 422, "invalid_request", "JSON object"),
    ("/v1/models/clf/predict", {"texts": "one string"}, 422, "invalid_request", "texts: expected a list"),
    ("/v1/models/clf/predict", {"texts": [1]}, 422, "invalid_request", "expected a string; found integer 1"),
    ("/v1/models/clf/predict", {}, 422, "invalid_request", "found neither"),
    ("/v1/models/clf/predict", {"texts": []}, 422, "invalid_request", "at least one text"),
    ("/v1/models/clf/predict", {"texts": ["  "]}, 422, "invalid_request", "non-empty"),
    ("/v1/models/clf/predict", {"texts": ["a" * 201]}, 413, "too_large", "at most 200 characters"),
    ("/v1/models/clf/predict", {"texts": ["a"] * 9}, 413, "too_large", "at most 8 texts"),
    ("/v1/models/clf/predict", {"texts": ["a"], "temperature": 1}, 422, "invalid_request", "temperature: unknown field"),
    ("/v1/models/clf/predict", {"texts": ["a"], "beam": 2}, 422, "invalid_request", "found beam, which does not apply"),
    ("/v1/models/fc/predict", {"texts": ["a"]}, 422, "invalid_request", "found texts"),
    ("/v1/models/nope/predict", {"texts": ["a"]}, 404, "not_found", "served: clf, lm, s2s, fc"),
    ("/v1/models/lm/predict", {"texts": ["a"]}, 400, "wrong_task", "/generate"),
    ("/v1/models/clf/generate", {"prompt": "a"}, 400, "wrong_task", "lm run"),
    ("/v1/models/s2s/predict", {"text": "저는", "beam": 2, "n_best": 3}, 422, "invalid_request", "n_best between 1 and the beam width 2"),
    ("/v1/models/s2s/predict", {"text": "저는", "beam": 0}, 422, "invalid_request", "beam"),
    ("/v1/models/s2s/predict", {"text": "저는", "beam": 99}, 422, "invalid_request", "beam <= 16"),
    ("/v1/models/s2s/predict", {"texts": ["a", "b"], "attention": True}, 422, "invalid_request", "one text"),
    ("/v1/models/fc/predict", {"csv": "a,b\n1"}, 422, "invalid_input", "value"),
    ("/v1/models/fc/predict", {"csv": ""}, 422, "invalid_request", "empty"),
    ("/v1/models/fc/predict", {"data": "/etc/passwd"}, 422, "invalid_request", "reads no paths"),
    ("/v1/models/fc/predict", {"columns": {"time": [1, 2], "value": [1]}}, 422, "invalid_request", "equal length"),
    ("/v1/models/fc/predict", {"csv": "time,value\n2020-01-01,1\n2020-01-02,2\n"}, 422, "invalid_input", "lookback"),
    ("/v1/models/fc/predict", {"data": "builtin:sine?n=120", "horizon": 99999}, 422, "invalid_request", "horizon <= 2000"),
    ("/v1/models/lm/generate", {"prompt": "hel", "max_new_tokens": 65}, 422, "invalid_request", "max_new_tokens <= 64"),
    ("/v1/models/lm/generate", {"prompt": "hel", "max_new_tokens": -1}, 422, "invalid_request", "max_new_tokens"),
    ("/v1/models/lm/generate", {"prompt": "hel", "temperature": 0}, 422, "invalid_request", "temperature"),
    ("/v1/models/lm/generate", {"prompt": "hel", "top_p": 1.5}, 422, "invalid_request", "top_p"),
    ("/v1/models/lm/generate", {"prompt": "hel", "top_k": -3}, 422, "invalid_request", "top_k"),
    ("/v1/models/lm/generate", {"prompt": "hel", "repetition_penalty": 0}, 422, "invalid_request", "repetition_penalty"),
    ("/v1/models/lm/generate", {"prompt": "hel", "num_samples": 0}, 422, "invalid_request", "num_samples"),
    ("/v1/models/lm/generate", {"prompt": "hel", "precision": "fp8"}, 422, "invalid_request", "precision"),
    ("/v1/models/lm/generate", {"prompt": "hel", "stop": [""]}, 422, "invalid_request", "non-empty stop"),
    ("/v1/models/lm/generate", {"prompt": "qqq", "stream": True}, 422, "invalid_input", "nothing this model knows"),
    ("/v1/models/lm/generate", {"prompt": 5}, 422, "invalid_request", "prompt: expected a string"),
    ("/v1/models/lm/generate", {"prompt": "a", "prompts": ["b"]}, 422, "invalid_request", "found both"),
    ("/v1/models/lm/generate", {"prompt": "hel", "greedy": "yes"}, 422, "invalid_request", "greedy: expected true or false"),
    ("/v1/models/lm/generate", {"prompt": "hel", "max_new_tokens": "5"}, 422, "invalid_request", "max_new_tokens: expected an integer"),
    ("/v1/models/lm/generate", {"prompt": "hel", "seed": 2**70}, 422, "invalid_request", "seed"),
    ("/v1/models/lm/generate", {"prompt": "hel", "stop": ["x" * 201]}, 422, "invalid_request", "at most 16 stop strings"),
    ("/v1/models/fc/predict", {"data": "builtin:sine?n=100000000"}, 413, "too_large", "at most 200000 rows"),
]


@pytest.mark.parametrize("path,body,status,kind,words", BAD, ids=[f"{i}-{b[0].split('/')[3]}" for i, b in enumerate(BAD)])
def test_bad_input_is_a_4xx_json_error(client, path, body, status, kind, words):
    if isinstance(body, str):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        r = client.post(path, json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == kind and words in err["message"], err
    assert "Traceback" not in r.text


def test_oversized_body_unknown_path_and_wrong_method(client):
    r = client.post("/v1/models/clf/predict", content=b"x" * 100_001, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "100000 bytes" in r.json()["error"]["message"]
    r = client.get("/v2/nothing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
    r = client.get("/v1/models/clf/predict")
    assert r.status_code == 405 and r.json()["error"]["type"] == "method_not_allowed"
    r = client.get("/v1/models/nope")
    assert r.status_code == 404 and "served:" in r.json()["error"]["message"]


def test_metrics_count_requests_latency_batches_and_tokens(client):
    post(client, "/v1/models/clf/predict", {"text": "a"})
    post(client, "/v1/models/clf/predict", {"texts": []})
    post(client, "/v1/models/lm/generate", {"prompt": "hel", "max_new_tokens": 5, "greedy": True})
    text = client.get("/metrics").text
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")
    assert 'seqlab_requests_total{endpoint="/v1/models/{name}/predict",model="clf",status="200"}' in text
    assert 'seqlab_requests_total{endpoint="/v1/models/{name}/predict",model="clf",status="422"}' in text
    assert '# TYPE seqlab_request_seconds histogram' in text
    assert 'seqlab_request_seconds_bucket{endpoint="/v1/models/{name}/predict",le="+Inf"}' in text
    assert 'seqlab_batch_size_count{model="clf"}' in text
    tokens = [ln for ln in text.splitlines() if ln.startswith('seqlab_generated_tokens_total{model="lm"}')]
    assert tokens and int(tokens[0].split()[-1]) >= 5


def test_a_client_that_leaves_mid_stream_stops_its_generation(runs):
    """Over a real socket: read two events of a 20,000-token stream, hang up, and the generation stops."""
    app = create_app({"lm": runs["lm"]}, Limits(max_new_tokens=20_000, gen_streams=1), warmup=False)
    server = LiveServer(app)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            with c.stream("POST", "/v1/models/lm/generate", json={"prompt": "hel", "max_new_tokens": 20_000, "stream": True,
                                                                  "greedy": True}) as r:
                lines = r.iter_lines()
                assert next(lines).startswith("data: ")
            deadline = time.monotonic() + 30
            while 'seqlab_generations_cancelled_total{model="lm"} 1' not in c.get("/metrics").text:
                assert time.monotonic() < deadline, "the generation went on after the client left"
                time.sleep(0.05)
            # the one model copy is free again: a new request is answered at once
            assert c.post("/v1/models/lm/generate", json={"prompt": "hel", "max_new_tokens": 3}).status_code == 200
    finally:
        server.stop()


def test_fill_mask(tmp_path):
    mlm = seqlab.load(tiny_runs(("mlm",))["mlm"])
    with TestClient(create_app({"bert": mlm})) as c:
        status, body = post(c, "/v1/models/bert/predict", {"texts": ["the [MASK] was great", "[MASK] 정말 [MASK]"], "top_k": 3})
        assert status == 200 and body["task"] == "mlm"
        assert body["results"] == mlm.fill_mask(["the [MASK] was great", "[MASK] 정말 [MASK]"], top_k=3)
        assert [len(r["masks"]) for r in body["results"]] == [1, 2] and len(body["results"][0]["masks"][0]) == 3
        status, err = post(c, "/v1/models/bert/predict", {"text": "no mask here"})
        assert status == 422 and "expected [MASK]" in err["error"]["message"]
        status, err = post(c, "/v1/models/bert/predict", {"text": "a [MASK]", "top_k": 0})
        assert status == 422 and "top_k" in err["error"]["message"]
        assert c.get("/v1/models/bert").json()["max_length"] == 24


def test_generations_over_the_pending_limit_get_429(runs):
    app = create_app({"lm": runs["lm"]}, Limits(gen_streams=1, max_pending=1, max_new_tokens=20_000), warmup=False)
    server = LiveServer(app)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            body = {"prompt": "hel", "max_new_tokens": 20_000, "greedy": True, "stream": True}
            with c.stream("POST", "/v1/models/lm/generate", json=body) as r:
                lines = r.iter_lines()  # kept: a dropped iterator would close the stream (and free the slot)
                assert next(lines).startswith("data: ")  # the one allowed generation is running
                second = c.post("/v1/models/lm/generate", json={"prompt": "hel", "max_new_tokens": 2})
                assert second.status_code == 429 and second.json()["error"]["type"] == "busy"
            deadline = time.monotonic() + 30  # once the stream is abandoned, its slot comes back
            while c.post("/v1/models/lm/generate", json={"prompt": "hel", "max_new_tokens": 2}).status_code == 429:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        server.stop()


def test_forecast_after_the_runs_own_csv(tmp_path):
    from seqlab.cli.main import main

    data = tmp_path / "series.csv"
    data.write_text(sine_csv(200))
    out = tmp_path / "fc"
    assert main(["-q", "train", "forecast", "--data", str(data), "--model", "dlinear", "--epochs", "1", "--lookback", "24",
                 "--horizon", "6", "--precision", "fp32", "--out", str(out)]) == 0
    run = seqlab.load(out)
    with TestClient(create_app({"fc": run})) as c:
        assert c.get("/v1/models/fc").json()["trained_on"] == str(data)
        status, body = post(c, "/v1/models/fc/predict", {})
        assert status == 200 and body["forecast"] == run.forecast(str(data))["forecast"]
        data.unlink()  # the run's data gone from this machine: a clear 422, never a path a client chose
        status, err = post(c, "/v1/models/fc/predict", {})
        assert status == 422 and "not readable on this server" in err["error"]["message"]


def test_an_unexpected_failure_is_a_json_500_without_traceback(runs, monkeypatch):
    app = create_app({"clf": runs["clf"]}, warmup=False)

    def broken(texts, **_):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(runs["clf"], "predict", broken)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/models/clf/predict", json={"text": "a"})
        assert r.status_code == 500 and r.json()["error"]["type"] == "internal"
        assert "secret" not in r.text and "Traceback" not in r.text
        assert 'model="clf",status="500"} 1' in c.get("/metrics").text


def test_the_page_needs_no_network():
    from importlib import resources

    static = resources.files("seqlab.serve") / "static"
    names = sorted(p.name for p in static.iterdir())
    assert {"index.html", "app.js", "style.css", "docs.html", "docs.js"} <= set(names)
    for name in names:
        text = (static / name).read_text(encoding="utf-8")
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, name


# ---- which engine runs a classifier (serve/engine.py)
@pytest.mark.parametrize("mode", ["onnx", "auto"])
def test_classify_on_onnx_runtime_answers_as_pytorch_and_cleans_up(runs, mode):
    pytest.importorskip("onnxruntime")
    app = create_app({"clf": runs["clf"]}, Limits(max_batch=4), engine=mode)
    texts = ["classa x y z", "t1 t2 t3", "정말 강추 합니다"]
    with TestClient(app) as c:
        info = c.get("/v1/models/clf").json()["engine"]
        assert info["engine"] in ("torch", "onnx") and info["reason"]
        if mode == "onnx":
            assert info["engine"] == "onnx"
        else:  # auto: the choice follows the timings it reports, against the stated margin
            from seqlab.serve.engine import MARGIN

            t = info["ms_per_batch"]
            gain = (t["torch"]["1"] / t["onnx"]["1"] * t["torch"]["4"] / t["onnx"]["4"]) ** 0.5
            assert (info["engine"] == "onnx") == (gain >= MARGIN)
        export_dir = app.state.served["clf"].engine._dir
        assert (export_dir is not None) == (info["engine"] == "onnx")
        status, body = post(c, "/v1/models/clf/predict", {"texts": texts})
        assert status == 200
        for got, want in zip(body["results"], runs["clf"].predict(texts)):
            assert got["label"] == want["label"] and got["probs"] == pytest.approx(want["probs"], abs=1e-4)
    if export_dir is not None:  # the server removes the export it made when it stops
        assert not export_dir.exists()


def test_engine_torch_never_exports(runs, monkeypatch):
    import seqlab.export

    monkeypatch.setattr(seqlab.export, "export_run", lambda *a, **k: pytest.fail("exported with --engine torch"))
    app = create_app({"clf": runs["clf"]}, Limits(), engine="torch")
    with TestClient(app) as c:
        assert c.get("/v1/models/clf").json()["engine"] == {"engine": "torch", "reason": "--engine torch"}
