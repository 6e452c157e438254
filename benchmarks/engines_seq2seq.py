"""engines.py's seq2seq section: a Transformer run's beam search in seqlab, ONNX Runtime, HF and CTranslate2.

The same weights in every engine: seqlab's run; its ONNX export (encoder + one-step decoder, seqlab's numpy
beam search); Hugging Face ``MarianMTModel`` (``seqlab export --format hf``: post-LN runs only, seqlab's pre-LN
default has no exact HF architecture, README "Export"); and CTranslate2, converted straight from the run's
weights by :func:`ct2_from_run` (pre-LN and post-LN alike: CTranslate2's ``TransformerSpec`` has both). Every
engine gets seqlab's source ids, beam 5, its length penalty and length limit, and returns each sentence's
best hypothesis; the report says how often each equals seqlab's.

Sources: ``--seq2seq-src FILE`` (one sentence a line, .gz read too: e.g. Multi30k's test2016 German), else
random ids. Batch 1 decodes ``--seq2seq-sentences`` sentences one at a time; batch B decodes them in chunks
of B. ``--isolate`` times each engine in its own process, one process per engine and round with the engine
order rotated round by round (one engine's threads cannot slow the next: ONNX Runtime's workers spin after
each call; and a slow spell of a shared machine falls on every engine's round alike); otherwise one
process, engine order rotated each round. ``--seq2seq-length-penalty A`` overrides the run's for every
engine (0: raw log-probabilities, the one setting where GNMT's penalty, seqlab's, and the ``length ** A``
of HF and CTranslate2 agree, so every engine runs the same search).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import read_lines  # noqa: E402

ENGINES = ("seqlab", "seqlab_fp32", "ort", "hf", "ct2_fp32", "ct2_int8")
PATHS = {"seqlab": "run", "seqlab_fp32": "run", "ort": "onnx", "hf": "hf", "ct2_fp32": "ct2_fp32", "ct2_int8": "ct2_int8"}  # engine -> its weights


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def ct2_from_run(run, out: Path, quantization: str | None = None) -> None:
    """A CTranslate2 model of a seqlab Transformer run (seqlab.load(...)): the same layers, norms, positions,
    vocabulary and start token (``<sos>``, a learned embedding), saved in ``out``."""
    import torch
    from ctranslate2.specs import common_spec, transformer_spec

    m, cfg = run.module, run.module.cfg
    if cfg.copy or cfg.positions != "sinusoidal":
        raise ValueError("CTranslate2 has no copy head / learned-position Transformer spec")
    act = common_spec.Activation.RELU if cfg.activation == "relu" else common_spec.Activation.GELU
    spec = transformer_spec.TransformerSpec.from_config((cfg.n_enc_layer, cfg.n_dec_layer), cfg.n_head,
                                                        pre_norm=cfg.norm_first, no_final_norm=not cfg.norm_first,
                                                        activation=act)
    a = lambda t: t.detach().float().numpy().copy()  # noqa: E731

    def linear(s, *mods):  # one CTranslate2 linear from one or more fused nn.Linear
        s.weight = np.concatenate([a(x.weight) for x in mods])
        s.bias = np.concatenate([a(x.bias) for x in mods])

    def norm(s, ln):
        s.gamma, s.beta = a(ln.weight), a(ln.bias)

    pe = a(m.pe) if hasattr(m, "pe") else None
    for side, embed in ((spec.encoder, m.src_embed), (spec.decoder, m.tgt_embed)):
        (side.embeddings[0] if isinstance(side.embeddings, list) else side.embeddings).weight = a(embed.weight)
        side.position_encodings.encodings = pe
        side.scale_embeddings = True
    for s, layer in zip(spec.encoder.layer, m.enc_layers):
        linear(s.self_attention.linear[0], layer.self_attn.W_q, layer.self_attn.W_k, layer.self_attn.W_v)
        linear(s.self_attention.linear[1], layer.self_attn.W_o)
        norm(s.self_attention.layer_norm, layer.norm1)
        linear(s.ffn.linear_0, layer.ff.linear1), linear(s.ffn.linear_1, layer.ff.linear2)
        norm(s.ffn.layer_norm, layer.norm2)
    for s, layer in zip(spec.decoder.layer, m.dec_layers):
        linear(s.self_attention.linear[0], layer.self_attn.W_q, layer.self_attn.W_k, layer.self_attn.W_v)
        linear(s.self_attention.linear[1], layer.self_attn.W_o)
        norm(s.self_attention.layer_norm, layer.norm1)
        linear(s.attention.linear[0], layer.cross_attn.W_q)
        linear(s.attention.linear[1], layer.cross_attn.W_k, layer.cross_attn.W_v)
        linear(s.attention.linear[2], layer.cross_attn.W_o)
        norm(s.attention.layer_norm, layer.norm2)
        linear(s.ffn.linear_0, layer.ff.linear1), linear(s.ffn.linear_1, layer.ff.linear2)
        norm(s.ffn.layer_norm, layer.norm3)
    if cfg.norm_first:
        norm(spec.encoder.layer_norm, m.enc_norm), norm(spec.decoder.layer_norm, m.dec_norm)
    linear(spec.decoder.projection, m.out)
    itos = lambda tok: [tok.id_to_token(i) for i in range(tok.vocab_size)]  # noqa: E731
    spec.register_source_vocabulary(itos(run.src_tok))
    spec.register_target_vocabulary(itos(run.tgt_tok))
    t = run.tgt_tok
    spec.config.unk_token, spec.config.eos_token = t.id_to_token(t.unk_id), t.id_to_token(t.eos_id)
    spec.config.bos_token = spec.config.decoder_start_token = t.id_to_token(t.sos_id)
    spec.config.layer_norm_epsilon = float(m.dec_layers[0].norm1.eps)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        spec.validate()
        spec.optimize(quantization=quantization)
        spec.save(str(out))


def sources(path: str | None, run, n: int, seed: int = 0) -> list[list[int]]:
    """``n`` source id lists: the first ``n`` lines of ``path`` through the run's tokenizer (truncated to its
    max_src_len), else random ids of length 5-19."""
    if path:
        lines = read_lines(path, n)
        return [ids[: run.data.max_src_len] or [run.src_tok.unk_id] for ids in run.src_tok.encode_batch(lines)]
    g = np.random.default_rng(seed)
    return [g.integers(6, run.src_tok.vocab_size, size=int(k)).tolist() for k in g.integers(5, 20, size=n)]


def prepare(run_path: str | None, work: Path, smoke: bool) -> dict:
    """The run (trained here when none is given: a small post-LN model on builtin:reverse) and every engine's
    copy of its weights in ``work``: {"run", "onnx", "hf" (or absent), "ct2_fp32", "ct2_int8" (or absent)}."""
    import seqlab
    from seqlab.export import export_run

    if run_path is None:
        from seqlab.cli.main import main

        size = ["--set", "model.d_model=32", "--set", "model.d_ff=64", "--set", "model.n_enc_layer=1",
                "--set", "model.n_dec_layer=1"] if smoke else []
        run_path = str(work / "s2s")
        assert main(["-q", "train", "seq2seq", "--data", "builtin:reverse?n=400", "--model", "transformer", *size,
                     "--set", "model.norm_first=false", "--epochs", "1", "--set", "data.valid_bleu_max=8",
                     "--out", run_path]) == 0
    paths = {"run": str(run_path)}
    export_run(run_path, "onnx", work / "onnx", overwrite=True)
    paths["onnx"] = str(work / "onnx")
    try:  # the same weights in Hugging Face's MarianMTModel (post-LN runs only)
        export_run(run_path, "hf", work / "hf", overwrite=True)
        paths["hf"] = str(work / "hf")
    except Exception as e:  # noqa: BLE001 - a pre-LN run has no HF equivalent: say why, time the others
        log(f"seq2seq: no Hugging Face model on the same weights ({str(e)[:200]})")
    try:
        loaded = seqlab.load(run_path)
        for name, q in (("ct2_fp32", None), ("ct2_int8", "int8")):
            ct2_from_run(loaded, work / name, q)
            paths[name] = str(work / name)
    except Exception as e:  # noqa: BLE001 - report, keep benchmarking the others
        log(f"seq2seq: CTranslate2 conversion failed: {type(e).__name__}: {e}")
    return paths


def make_engine(name: str, paths: dict, threads: int):
    """``decode(list of source id lists) -> best hypothesis ids per sentence`` for engine ``name`` (beam 5,
    the run's length penalty and limits), or None where the engine has no copy of the weights."""
    if name != "seqlab" and PATHS[name] not in paths:
        return None
    if name == "ort":
        import seqlab.onnx

        ort = seqlab.onnx.load(paths["onnx"], threads=threads)
        if paths.get("length_penalty") is not None:
            ort.settings["length_penalty"] = paths["length_penalty"]
        return lambda srcs: [h[0].tokens for h in ort.decode_ids(srcs, beam=5, batch_size=len(srcs))]
    import torch

    import seqlab
    from seqlab.tasks.seq2seq_io import Encoded, decode

    torch.set_num_threads(threads)
    run = seqlab.load(paths["run"])
    run.module.eval()
    data, tok = run.data, run.tgt_tok
    if paths.get("length_penalty") is not None:
        data = dataclasses.replace(data, length_penalty=paths["length_penalty"])
    if name in ("seqlab", "seqlab_fp32"):  # as `seqlab translate` runs (bf16 for >= 256 rows of a bf16 run) / fp32
        if name == "seqlab_fp32":
            run.precision = "fp32"  # fp32 everywhere, the output projection included

        def fn(srcs):
            with torch.inference_mode(), run._autocast(rows=len(srcs) * 5 if name == "seqlab" else 0):
                hyps = decode(run.module, Encoded(srcs, [[] for _ in srcs]), tok, data, "cpu", beam=5, batch_size=len(srcs))
            return [h[0].tokens for h in hyps]
        return fn
    cap = min(data.max_tgt_len + 1, run.module.cfg.max_len - 1)
    limit = lambda srcs: int(min(data.max_len_a * max(map(len, srcs)) + data.max_len_b, cap))  # noqa: E731
    if name == "hf":
        import transformers

        hf = transformers.AutoModelForSeq2SeqLM.from_pretrained(paths["hf"]).eval()

        def fn(srcs):
            ids = torch.zeros(len(srcs), max(map(len, srcs)), dtype=torch.long)
            for i, s in enumerate(srcs):
                ids[i, : len(s)] = torch.tensor(s)
            with torch.inference_mode():
                out = hf.generate(input_ids=ids, attention_mask=(ids != 0).long(), num_beams=5, do_sample=False,
                                  max_new_tokens=limit(srcs), length_penalty=data.length_penalty)
            return [[t for t in row[1:] if t not in (tok.eos_id, tok.pad_id)] for row in out.tolist()]
        return fn
    import ctranslate2

    tr = ctranslate2.Translator(paths[name], device="cpu", compute_type="int8" if name == "ct2_int8" else "float32",
                                intra_threads=threads)
    src_itos = [run.src_tok.id_to_token(i) for i in range(run.src_tok.vocab_size)]
    stoi = {tok.id_to_token(i): i for i in range(tok.vocab_size)}

    def fn(srcs):  # CTranslate2 takes one length limit per call: the longest of seqlab's per-sentence limits
        res = tr.translate_batch([[src_itos[i] for i in s] for s in srcs], beam_size=5, max_batch_size=len(srcs),
                                 max_decoding_length=limit(srcs), length_penalty=data.length_penalty,
                                 min_decoding_length=0)  # an empty output allowed, as in seqlab and HF
        return [[stoi[w] for w in r.hypotheses[0]] for r in res]
    return fn


def time_engines(names: list[str], paths: dict, srcs: list[list[int]], batches: list[int], rounds: int,
                 threads: int) -> dict:
    """Per engine and batch: seconds per round (every sentence once, in chunks of the batch) and the hypotheses."""
    made = {n: make_engine(n, paths, threads) for n in names}
    out = {}
    for B in batches:
        chunks = [srcs[i: i + B] for i in range(0, len(srcs), B)]
        live = [n for n in names if made[n] is not None]
        res = {n: {"times": [], "hyps": [h for c in chunks for h in made[n](c)]} for n in live}  # also the warm-up
        for r in range(rounds):
            for n in live[r % len(live):] + live[: r % len(live)]:
                t = time.perf_counter()
                for c in chunks:
                    made[n](c)
                res[n]["times"].append(round(time.perf_counter() - t, 4))
        out[f"batch{B}"] = res
    return out


def bench(args, smoke: bool) -> dict:
    """Prepare the weights once, time every engine (each in its own process with ``args.isolate``), report."""
    import seqlab

    n = args.seq2seq_sentences if not smoke else 8
    with tempfile.TemporaryDirectory() as d:
        paths = prepare(args.seq2seq_run, Path(d), smoke)
        paths["length_penalty"] = args.seq2seq_length_penalty
        srcs = sources(args.seq2seq_src, seqlab.load(paths["run"]), n)
        names = [e for e in ENGINES if paths.get(PATHS[e]) and (not args.seq2seq_engines or e in args.seq2seq_engines)]
        if args.isolate:  # one process per engine and round, engines rotated: drift hits every engine alike
            raw: dict = {}
            Path(d, "job.json").write_text(json.dumps({"paths": paths, "srcs": srcs}))
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[: r % len(names)]:
                    cmd = [sys.executable, __file__, d, name, json.dumps(args.seq2seq_batches), "1", str(args.threads)]
                    res = subprocess.run(cmd, capture_output=True, text=True)
                    if res.returncode != 0:
                        log(f"seq2seq {name} failed: {res.stderr.strip().splitlines()[-1:]}")
                        continue
                    for key, v in json.loads(res.stdout.strip().splitlines()[-1]).items():
                        row = raw.setdefault(key, {}).setdefault(name, {"times": [], "hyps": v[name]["hyps"]})
                        row["times"] += v[name]["times"]
        else:
            raw = time_engines(names, paths, srcs, args.seq2seq_batches, args.rounds, args.threads)
    out = {"run": args.seq2seq_run or "small post-LN model on builtin:reverse", "sources": args.seq2seq_src or "random ids",
           "length_penalty": "the run's" if args.seq2seq_length_penalty is None else args.seq2seq_length_penalty,
           "sentences": len(srcs), "isolated": bool(args.isolate)}
    for key, res in raw.items():
        B = int(key[5:])
        ref = res["seqlab"]["hyps"]
        sps = {e: round(len(srcs) / min(v["times"]), 2) for e, v in res.items()}
        row = {"times": {e: v["times"] for e, v in res.items()}, "sentences_per_s": sps,
               "same_best_as_seqlab": {e: round(sum(a == b for a, b in zip(v["hyps"], ref)) / len(ref), 3)
                                       for e, v in res.items() if e != "seqlab"}}
        row["seqlab_vs"] = {e: round(sps["seqlab"] / s, 2) for e, s in sps.items() if e != "seqlab"}
        row["seqlab_vs_per_round"] = {e: [round(b / a, 2) for a, b in zip(res["seqlab"]["times"], v["times"])]
                                      for e, v in res.items() if e != "seqlab"}
        out[key] = row
        log(f"seq2seq beam 5 batch {B}: " + ", ".join(f"{e} {s} sent/s" for e, s in sps.items())
            + f"; same best as seqlab {row['same_best_as_seqlab']}")
    return out


if __name__ == "__main__":  # a child of --isolate: one engine, its times and hypotheses as one JSON line
    work, engine, batches, rounds, threads = sys.argv[1:6]
    job = json.loads(Path(work, "job.json").read_text())
    res = time_engines([engine], job["paths"], job["srcs"], json.loads(batches), int(rounds), int(threads))
    print(json.dumps({k: v for k, v in res.items()}))
