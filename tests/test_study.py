"""``seqlab study`` end to end (the fastest studies' quick modes, shrunk by SEQLAB_STUDY_SCALE), the report's
structure, the report page in headless Chromium, and ``seqlab attention`` on a tiny trained run."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import run_cli

FAST = ("attention-numpy", "relu", "vanishing")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One report with the three fastest studies in quick mode, shrunk to a fifth (SEQLAB_STUDY_SCALE)."""
    from seqlab.study.registry import get
    from seqlab.study.report import write_report
    from seqlab.study.runner import run_study

    out = tmp_path_factory.mktemp("study")
    os.environ["SEQLAB_STUDY_SCALE"] = "0.2"
    try:
        records = [run_study(get(name), out, quick=True, seed=0) for name in FAST]
    finally:
        del os.environ["SEQLAB_STUDY_SCALE"]
    write_report(out, records)
    return out


def test_results_json_structure(report):
    data = json.loads((report / "results.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in data["studies"]] == list(FAST)
    keys = {"name", "claim_ko", "claim_en", "threshold", "verdict", "summary", "columns", "rows", "figures",
            "explanation", "numbers", "command", "mode", "seed", "seconds"}
    for s in data["studies"]:
        assert keys <= set(s), s["name"]
        assert "error" not in s, s.get("error")
        assert s["verdict"] in ("holds", "does not hold", "inconclusive")
        assert re.search(r"[\uac00-\ud7af]", s["claim_ko"]), "the claim is quoted in Korean"
        assert s["rows"] and all(len(r) == len(s["columns"]) for r in s["rows"])
        assert s["figures"] and all((report / f).is_file() and (report / f).stat().st_size > 1000 for f in s["figures"])
        assert s["command"].startswith(f"seqlab study {s['name']} --quick --seed 0")
        assert s["mode"] == "quick"


def test_verdicts_follow_the_numbers(report):
    by = {s["name"]: s for s in json.loads((report / "results.json").read_text(encoding="utf-8"))["studies"]}
    numpy = by["attention-numpy"]["numbers"]
    assert numpy["max_abs_diff_vector"] < 1e-6 and numpy["max_abs_diff_fixed"] < 1e-6
    assert numpy["max_abs_diff_matrix"] > 1e-3  # softmax(axis=0) over a score matrix normalises the wrong axis
    assert by["attention-numpy"]["verdict"] == "does not hold"
    relu = by["relu"]["numbers"]
    assert relu["identity_relu_exploded_at"] is not None and relu["identity_tanh_exploded_at"] is None
    assert by["relu"]["verdict"] == "holds"
    van = by["vanishing"]["numbers"]
    assert van["slope_rnn_init"] < van["slope_lstm_init"]  # the plain RNN's gradient decays fastest with distance
    assert abs(van["slope_transformer_init"]) < abs(van["slope_rnn_init"])


def test_index_html_references_every_figure(report):
    page = (report / "index.html").read_text(encoding="utf-8")
    data = json.loads((report / "results.json").read_text(encoding="utf-8"))
    for s in data["studies"]:
        assert s["claim_ko"].split()[0] in page and s["command"] in page
        for f in s["figures"]:
            assert f'src="{f}"' in page
    assert "http://" not in page and "https://" not in page  # nothing to fetch: works offline
    assert set(re.findall(r'<img src="([^"]+)"', page)) == {f for s in data["studies"] for f in s["figures"]}


def test_report_images_load_in_headless_chromium(report):
    chromium = Path("/usr/bin/chromium")
    if not chromium.is_file() and not shutil.which("chromium"):
        pytest.skip("no Chromium at /usr/bin/chromium (install Debian's chromium to run this check)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium if chromium.is_file() else shutil.which("chromium")),
                                    args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto((report / "index.html").as_uri())
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        finally:
            browser.close()
    assert len(widths) >= len(FAST)
    assert all(w > 0 for w in widths), widths


def test_cli_list_and_unknown_study(capsys):
    code, out, _ = run_cli(["study", "list", "--json"], capsys)
    assert code == 0
    listed = json.loads(out)
    assert len(listed) >= 12 and {"vanishing", "self-attention", "tokens-ko", "attention-numpy"} <= {s["name"] for s in listed}
    assert all(s["quick_s"] <= 60 and s["full_s"] <= 600 for s in listed)
    code, _, err = run_cli(["study", "nope"], capsys)
    assert code == 2 and "unknown study" in err and "vanishing" in err


def test_cli_runs_one_study(tmp_path, capsys):
    code, out, _ = run_cli(["study", "attention_numpy", "--quick", "--out", str(tmp_path), "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert res["studies"][0]["verdict"] == "does not hold"
    assert (tmp_path / "index.html").is_file() and (tmp_path / "attention-numpy" / "weights.png").is_file()


def test_attention_cli(tmp_path, capsys):
    rows = ["text,label"] + [f"{'good great fine' if i % 2 else 'bad awful poor'} movie {i % 7},{i % 2}" for i in range(60)]
    data = tmp_path / "d.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, _, err = run_cli(["-q", "train", "classify", "--data", str(data), "--model", "transformer", "--out", str(tmp_path / "tr"),
                            "--epochs", "1", "--precision", "fp32", "--set", "model.embed_dim=16", "--set", "model.n_head=2",
                            "--set", "model.n_layer=2", "--set", "model.d_ff=16", "--set", "model.pool=cls"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["attention", str(tmp_path / "tr"), "good movie 3", "--json", "--plot", str(tmp_path / "a.png")], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["tokens"][0] == "[CLS]" and len(res["tokens"]) == 4
    assert set(res["weights"]) == {"0.0", "0.1", "1.0", "1.1"}
    for rows_ in res["weights"].values():
        assert all(abs(sum(r) - 1) < 1e-3 for r in rows_)
    assert (tmp_path / "a.png").stat().st_size > 1000
    code, _, err = run_cli(["attention", str(tmp_path / "tr"), "good", "--layer", "5"], capsys)
    assert code == 2 and "--layer" in err
    code, _, err = run_cli(["-q", "train", "classify", "--data", str(data), "--model", "gru", "--out", str(tmp_path / "gru"),
                            "--epochs", "1", "--precision", "fp32", "--set", "model.hidden=8", "--set", "model.embed_dim=8"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["attention", str(tmp_path / "gru"), "good movie"], capsys)
    assert code == 2 and "no attention" in err


def test_rerunning_one_study_keeps_the_others_in_the_report(tmp_path, capsys):
    from seqlab.study.report import write_report

    write_report(tmp_path, [{"name": "relu", "verdict": "holds", "summary": "x", "claim_ko": "가", "claim_en": "a",
                             "threshold": "t", "columns": [], "rows": [], "figures": [], "explanation": "e",
                             "numbers": {}, "command": "c", "mode": "quick", "seed": 0, "seconds": 1.0, "estimate_s": 1}])
    code, _, _ = run_cli(["study", "attention-numpy", "--quick", "--out", str(tmp_path)], capsys)
    assert code == 0
    names = [s["name"] for s in json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["studies"]]
    assert names == ["relu", "attention-numpy"]


def test_a_study_is_deterministic_for_its_seed(report, tmp_path, monkeypatch):
    from seqlab.study.registry import get
    from seqlab.study.runner import run_study

    first = next(s for s in json.loads((report / "results.json").read_text(encoding="utf-8"))["studies"] if s["name"] == "relu")
    monkeypatch.setenv("SEQLAB_STUDY_SCALE", "0.2")
    again = run_study(get("relu"), tmp_path, quick=True, seed=0)
    assert json.loads(json.dumps(again["rows"])) == first["rows"] and again["verdict"] == first["verdict"]


def test_attention_maps_for_gpt_mlm_and_bert_classifier():
    from types import SimpleNamespace

    import torch

    from conftest import tiny_gpt
    from seqlab.attention_maps import attention_maps
    from seqlab.data.tokenizers import make_tokenizer
    from seqlab.models.bert import BertClassifier, BertConfig, BertForMaskedLM

    tok = make_tokenizer("word").fit(["the animal was tired", "the street was wide"])
    cfg = BertConfig(vocab_size=tok.vocab_size, max_position=16, n_layer=2, n_head=2, d_model=16, d_ff=32)
    torch.manual_seed(0)
    runs = {
        "lm": SimpleNamespace(task="lm", module=tiny_gpt(vocab_size=tok.vocab_size), tokenizer=tok, config={"model_name": "gpt"}),
        "mlm": SimpleNamespace(task="mlm", module=BertForMaskedLM(cfg).eval(), tokenizer=tok, config={"model_name": "bert"}),
        "classify": SimpleNamespace(task="classify", module=BertClassifier(cfg, 2, cls_id=tok.cls_id, sep_id=tok.eos_id).eval(),
                                    tokenizer=tok, config={"model_name": "bert"}),
    }
    for task, run in runs.items():
        maps = attention_maps(run, "the animal was tired")
        T = len(maps.tokens)
        assert maps.weights.shape == (2, 2, T, T), task
        assert torch.allclose(maps.weights.sum(-1), torch.ones(2, 2, T), atol=1e-5)
        if task == "lm":
            assert maps.causal and maps.tokens == ["the", "animal", "was", "tired"]
            assert torch.all(maps.weights[..., 0, 1:] == 0)  # the first token sees only itself
        else:
            assert maps.tokens[0] == "[CLS]" and maps.tokens[-1] == "[SEP]" and T == 6
