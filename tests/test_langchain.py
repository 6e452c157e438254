"""seqlab as LangChain components, local and through a running server, and the homework chain end to end
(examples/langchain_homework.py) on tiny runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("langchain_core")

from langchain_core.prompts import PromptTemplate  # noqa: E402

import seqlab  # noqa: E402
from seqlab.errors import UserError  # noqa: E402
from seqlab.integrations.langchain import SeqlabClassifier, SeqlabLLM, SeqlabTranslator  # noqa: E402
from serve_runs import LiveServer, tiny_runs  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "langchain_homework.py"
GREEDY = {"greedy": True, "precision": "fp32", "max_new_tokens": 12}


@pytest.fixture(scope="module")
def runs():
    return {k: str(v) for k, v in tiny_runs(("clf", "lm", "s2s")).items()}


@pytest.fixture(scope="module")
def homework():
    spec = importlib.util.spec_from_file_location("langchain_homework", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_llm_invoke_and_stream_agree_with_the_run(runs):
    llm = SeqlabLLM(run=runs["lm"], **GREEDY)
    want = seqlab.load(runs["lm"]).generate("hel", 12, greedy=True, precision="fp32")[0]["text"]
    pieces = list(llm.stream("hel"))
    assert llm.invoke("hel") == want == "".join(pieces) and len(pieces) > 1
    assert llm._llm_type == "seqlab" and llm._identifying_params["run"] == runs["lm"]
    stop = want[2:4]
    assert llm.invoke("hel", stop=[stop]) == want[: want.index(stop)]
    assert (PromptTemplate.from_template("he{x}") | llm).invoke({"x": "l"}) == want
    assert llm.batch(["hel"] * 4, config={"max_concurrency": 4}) == [want] * 4  # threads take turns on one model


def test_runnables_for_classify_and_translate(runs):
    clf, s2s = seqlab.load(runs["clf"]), seqlab.load(runs["s2s"])
    c = SeqlabClassifier(runs["clf"])
    assert c.invoke("classa a b")["label"] == clf.predict(["classa a b"])[0]["label"]
    assert [r["label"] for r in c.batch(["x", "y z"])] == [r["label"] for r in clf.predict(["x", "y z"])]
    t = SeqlabTranslator(runs["s2s"], beam=2)
    assert (PromptTemplate.from_template("{text}") | t).invoke({"text": "저는 강사 입니다"}) == \
        s2s.predict(["저는 강사 입니다"], beam=2)[0]["translation"]


def test_bad_sources_are_refused(runs):
    with pytest.raises(ValueError, match="either run"):
        SeqlabLLM()
    with pytest.raises(ValueError, match="model='NAME'"):
        SeqlabClassifier(url="http://127.0.0.1:1")
    with pytest.raises(UserError, match="expected an lm run"):
        SeqlabLLM(run=runs["clf"])
    with pytest.raises(UserError, match="expected a seq2seq run"):
        SeqlabTranslator(runs["clf"])


def test_homework_chain_end_to_end(runs, homework, tmp_path, capsys):
    lines = ["저는 커피를 좋아합니다", "그는 내일 학교에 갑니다"]
    analyse, write = homework.build_chains(runs["clf"], runs["s2s"], runs["lm"], **GREEDY)
    records = analyse.batch([{"line": ln} for ln in lines])
    clf, s2s = seqlab.load(runs["clf"]), seqlab.load(runs["s2s"])
    for r, ln in zip(records, lines):
        assert r["line"] == ln and r["label"] == clf.predict([ln])[0]["label"]
        assert r["translation"] == s2s.predict([ln])[0]["translation"]
    pieces = list(write.stream(records[0]))
    prompt = homework.TEMPLATE.format(**records[0])
    assert "".join(pieces) == SeqlabLLM(run=runs["lm"], **GREEDY).invoke(prompt)
    # the script itself on the user's file
    f = tmp_path / "mine.txt"
    f.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    code = homework.main([str(f), "--classify", runs["clf"], "--translate", runs["s2s"], "--lm", runs["lm"],
                          "--max-new-tokens", "5"])
    out = capsys.readouterr().out
    assert code == 0 and all(ln in out for ln in lines) and out.count("\n--- ") == 2


def test_the_same_components_against_a_running_server(runs):
    from seqlab.serve import create_app

    server = LiveServer(create_app({k: seqlab.load(v) for k, v in runs.items()}))
    try:
        llm = SeqlabLLM(url=server.url, model="lm", **GREEDY)
        local = SeqlabLLM(run=runs["lm"], **GREEDY)
        pieces = list(llm.stream("hel"))
        assert "".join(pieces) == llm.invoke("hel") == local.invoke("hel") and len(pieces) > 1
        served = SeqlabClassifier(url=server.url, model="clf").batch(["a", "b c"])
        assert [r["label"] for r in served] == [r["label"] for r in seqlab.load(runs["clf"]).predict(["a", "b c"])]
        assert SeqlabTranslator(url=server.url, model="s2s").invoke("저는 강사 입니다") == \
            SeqlabTranslator(runs["s2s"]).invoke("저는 강사 입니다")
        with pytest.raises(UserError, match="nothing this model knows"):
            list(llm.stream("qqq"))
        with pytest.raises(UserError, match="not_found"):
            SeqlabClassifier(url=server.url, model="nope").invoke("a")
    finally:
        server.stop()
