"""Hugging Face export: transformers loads every export with no custom code, its logits equal seqlab's within
1e-4, AutoTokenizer encodes like seqlab's tokenizer, and `seqlab import-hf` of an export gives the run back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import seqlab
from conftest import write_sentiment_csv
from seqlab.export import export_run

transformers = pytest.importorskip("transformers")

TOL = 1e-4
TEXTS = ["the movie was great", "a dull, boring film!", "great", "Great acting and a GREAT story."]
TINY_BERT = ["--set", "model.n_layer=2", "--set", "model.d_model=32", "--set", "model.n_head=2", "--set", "model.d_ff=64",
             "--set", "data.vocab_size=150", "--set", "data.max_len=24"]


def _train(args) -> None:
    from seqlab.cli.main import main

    assert main(["-q", "train", *map(str, args), "--epochs", "1", "--precision", "fp32"]) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("hf")
    data = write_sentiment_csv(d / "reviews.csv", n=120)
    text = d / "text.txt"
    text.write_text("\n".join(f"the {w} movie was great and the acting was {v}." for w in ("good", "bad", "long")
                              for v in ("fine", "poor", "great", "dull")) * 8, encoding="utf-8")
    gpt = ["--set", "model.n_layer=2", "--set", "model.n_embd=16", "--set", "model.n_head=2", "--set", "model.block_size=32"]
    _train(["lm", "--data", text, "--model", "gpt", *gpt, "--out", d / "gpt-char"])
    _train(["lm", "--data", text, "--model", "gpt", *gpt, "--set", "data.tokenizer=bpe", "--set", "data.vocab_size=80",
            "--set", "model.tie_weights=false", "--set", "model.activation=gelu", "--set", "model.bias=false",
            "--out", d / "gpt-bpe"])
    _train(["lm", "--data", text, "--model", "gpt", *gpt, "--set", "data.tokenizer=word", "--set", "data.lowercase=true",
            "--out", d / "gpt-word"])
    _train(["mlm", "--data", data, "--model", "bert", *TINY_BERT, "--out", d / "mlm"])
    _train(["classify", "--data", data, "--model", "bert", "--init", d / "mlm", "--out", d / "clf"])
    return d


def _random_ids(vocab: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    for B, T in [(1, 1), (1, 7), (3, 5), (8, 12), (5, 3), (20, 9), (16, 2)]:  # 54 rows
        yield torch.randint(0, vocab, (B, T), generator=g)


@pytest.mark.parametrize("name", ["gpt-char", "gpt-bpe", "gpt-word"])
def test_gpt_as_gpt2lmheadmodel(runs, tmp_path, name):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel

    run = seqlab.load(runs / name)
    export_run(runs / name, "hf", tmp_path / "hf")
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf) is GPT2LMHeadModel
    for ids in _random_ids(run.module.config.vocab_size):
        with torch.no_grad():
            np.testing.assert_allclose(hf(ids).logits.numpy(), run.module(ids).numpy(), atol=TOL, rtol=0)
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    for text in TEXTS + ["the acting\nwas fine"]:
        assert tok(text, add_special_tokens=False)["input_ids"] == run.tokenizer.encode(text), text
    prompt = torch.tensor([run.tokenizer.encode("the movie")])
    want = run.generate("the movie", 12, greedy=True, precision="fp32")[0]
    with torch.no_grad():
        got = hf.generate(prompt, max_new_tokens=want["new_tokens"], do_sample=False, pad_token_id=0)
    assert run.tokenizer.decode(got[0, prompt.shape[1]:].tolist()) == want["text"]


def test_bert_mlm_as_bertformaskedlm(runs, tmp_path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer, BertForMaskedLM

    run = seqlab.load(runs / "mlm")
    export_run(runs / "mlm", "hf", tmp_path / "hf")
    hf = AutoModelForMaskedLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf) is BertForMaskedLM
    for ids in _random_ids(run.module.config.vocab_size, seed=1):
        mask = torch.ones_like(ids, dtype=torch.bool)
        mask[0, max(1, ids.shape[1] // 2):] = False  # padding in the first row
        with torch.no_grad():
            want = run.module(ids, mask).numpy()
            got = hf(input_ids=ids, attention_mask=mask.long()).logits.numpy()
        real = mask.numpy()
        np.testing.assert_allclose(got[real], want[real], atol=TOL, rtol=0)
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    t = run.tokenizer
    for text in TEXTS:
        assert tok(text)["input_ids"] == [t.cls_id, *t.encode(text), t.eos_id]
    assert tok.mask_token_id == t.mask_id


def test_classify_bert_as_bertforsequenceclassification(runs, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = seqlab.load(runs / "clf")
    export_run(runs / "clf", "hf", tmp_path / "hf")
    hf = AutoModelForSequenceClassification.from_pretrained(tmp_path / "hf").eval()
    assert hf.config.id2label == dict(enumerate(run.labels))
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    ids = [run.tokenizer.encode(t) for t in TEXTS]
    T = max(map(len, ids))
    x = torch.tensor([s + [run.tokenizer.pad_id] * (T - len(s)) for s in ids])
    m = torch.tensor([[True] * len(s) + [False] * (T - len(s)) for s in ids])
    with torch.no_grad():
        want = run.module(x, m).numpy()
        got = hf(**enc).logits.numpy()
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    labels = [hf.config.id2label[i] for i in got.argmax(-1)]
    assert labels == [p["label"] for p in run.predict(TEXTS)]


@pytest.mark.parametrize("name", ["gpt-char", "mlm"])
def test_import_hf_of_an_export_is_the_run(runs, tmp_path, cli, name):
    export_run(runs / name, "hf", tmp_path / "hf")
    code, _, err = cli("-q", "import-hf", tmp_path / "hf", "--out", tmp_path / "back")
    assert code == 0, err
    a, b = seqlab.load(runs / name), seqlab.load(tmp_path / "back")
    for ids in _random_ids(a.module.config.vocab_size, seed=2):
        with torch.no_grad():
            np.testing.assert_allclose(b.module(ids).numpy(), a.module(ids).numpy(), atol=TOL, rtol=0)
    assert b.tokenizer.encode(TEXTS[1]) == a.tokenizer.encode(TEXTS[1])


def test_post_ln_seq2seq_transformer_as_marianmtmodel(tmp_path):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, MarianMTModel

    from seqlab.models.decoding import greedy

    _train(["seq2seq", "--data", "builtin:reverse?n=100", "--model", "transformer", "--set", "model.d_model=16",
            "--set", "model.n_head=2", "--set", "model.d_ff=32", "--set", "model.n_enc_layer=2",
            "--set", "model.n_dec_layer=2", "--set", "model.norm_first=false", "--set", "data.valid_bleu_max=4",
            "--set", "data.copy_source=off", "--out", tmp_path / "post"])  # reversal would turn the copy head on
    run = seqlab.load(tmp_path / "post")
    export_run(tmp_path / "post", "hf", tmp_path / "hf")
    hf = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "hf").eval()
    assert type(hf) is MarianMTModel
    m, g = run.module, torch.Generator().manual_seed(3)
    for B, S, T in [(1, 1, 1), (3, 7, 5), (8, 12, 9), (20, 4, 3), (24, 9, 12)]:  # 56 rows
        src = torch.randint(6, m.cfg.src_vocab, (B, S), generator=g)
        mask = torch.arange(S)[None, :] < torch.randint(1, S + 1, (B,), generator=g)[:, None]
        mask[0] = True
        src = src.masked_fill(~mask, run.src_tok.pad_id)
        tgt = torch.randint(6, m.cfg.tgt_vocab, (B, T), generator=g)
        tgt[:, 0] = run.tgt_tok.sos_id
        with torch.no_grad():
            want = m(src, mask, tgt).numpy()
            got = hf(input_ids=src, attention_mask=mask.long(), decoder_input_ids=tgt).logits.numpy()
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    with torch.no_grad():
        ours = greedy(m, src, mask, run.tgt_tok.sos_id, run.tgt_tok.eos_id, max_len_cap=10)
        theirs = hf.generate(input_ids=src, attention_mask=mask.long(), num_beams=1, do_sample=False, max_new_tokens=10)
    eos = run.tgt_tok.eos_id
    for h, row in zip(ours, theirs[:, 1:].tolist()):  # HF's rows start with <sos> and end at <eos> (then padding)
        assert h.tokens == (row[: row.index(eos)] if eos in row else row)
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tok("3 1 4 1 5", add_special_tokens=False)["input_ids"] == run.src_tok.encode("3 1 4 1 5")
    tgt_tok = AutoTokenizer.from_pretrained(tmp_path / "hf" / "target_tokenizer")
    assert tgt_tok("5 1 4", add_special_tokens=False)["input_ids"] == run.tgt_tok.encode("5 1 4")


def test_models_without_a_hugging_face_equivalent(runs, tmp_path, cli):
    _train(["seq2seq", "--data", "builtin:reverse?n=60", "--model", "transformer", "--set", "model.d_model=16",
            "--set", "model.n_head=2", "--set", "model.d_ff=32", "--set", "model.n_enc_layer=1",
            "--set", "model.n_dec_layer=1", "--set", "data.valid_bleu_max=4", "--out", tmp_path / "tf"])
    code, _, err = cli("export", tmp_path / "tf", "--format", "hf", "--out", tmp_path / "x")
    assert code == 2 and "MarianMTModel" in err and "pre-LN" in err
    assert "copy (pointer-generator)" in err and "--set data.copy_source=off" in err  # reversal data: auto copy
    data = write_sentiment_csv(tmp_path / "r.csv", n=60)
    _train(["mlm", "--data", data, "--model", "bert", *TINY_BERT, "--set", "model.norm=pre", "--out", tmp_path / "pre"])
    code, _, err = cli("export", tmp_path / "pre", "--format", "hf", "--out", tmp_path / "y")
    assert code == 2 and "norm='pre'" in err
    code, _, err = cli("export", runs / "gpt-char", "--format", "hf", "--out", tmp_path / "z", "--precision", "int8")
    assert code == 2 and "int8" in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    manifest = json.loads(json.dumps(export_run(runs / "gpt-char", "hf", tmp_path / "ok")))
    assert manifest["architecture"] == "GPT2LMHeadModel"
