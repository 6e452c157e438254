"""seqlab against the CPU engines a user would pick instead, on the same weights, in one process (issue 14).

Three sections, each engine timed in every round with the engine order rotated round by round (so each
engine sometimes runs right after another one's PyTorch or ONNX Runtime work), every round's time kept:

* ``gpt``: greedy generation, a 16-token prompt, ``--new-tokens`` new tokens, batch 1 and 8, at two sizes:
  ``small`` (6 layers, 6 heads, 384 dims, vocab 65: RESULTS.md's model) and ``gpt2`` (12/12/768, vocab
  50,257: GPT-2 small), random weights. Engines: seqlab ``generate`` (fp32, bf16, int8 as ``seqlab generate``
  runs them, and ``seqlab_auto``: its default, which times fp32 and bf16 first; ``seqlab_fp32_fixed`` pins the C step's threads instead of its per-step chooser), Hugging Face
  ``generate`` (eager; with ``--hf-compile`` also its static cache + ``torch.compile``), ONNX Runtime
  through ``seqlab export --format onnx`` (fp32, int8), and CTranslate2 converted from ``seqlab export
  --format hf`` (fp32, int8). Tokens/s, ratios against CTranslate2 and ONNX Runtime at equal precision,
  and whether each engine's greedy tokens equal seqlab fp32's.
* ``seq2seq`` (engines_seq2seq.py): a Transformer run (``--seq2seq-run RUN``, e.g. the Multi30k run; otherwise a
  small post-LN run trained here), beam 5, sentences/s at ``--seq2seq-batches``: seqlab's beam search vs ONNX
  Runtime through the export vs Hugging Face ``generate`` (post-LN runs: ``MarianMTModel``) vs CTranslate2
  (fp32, int8) converted straight from the run's weights; real sources with ``--seq2seq-src FILE``; each
  engine in its own process with ``--isolate``; how often each engine's best hypothesis equals seqlab's.
* ``classify``: a bi-GRU and a Transformer encoder classifier, batch-1 latency and batch-64 throughput,
  PyTorch eager vs ONNX Runtime on the same run.

Peak RSS per engine needs one process per engine: ``--rss`` re-runs this script once per GPT engine
(``--only ENGINE``, batch 1, the first of ``--sizes``) and reports each child's peak resident memory;
``--sections --rss --sizes gpt2`` measures only that.

    OMP_NUM_THREADS=2 python benchmarks/engines.py --threads 2 --out benchmarks/results/engines.json
    python benchmarks/engines.py --smoke          # seconds: tiny sizes, checks that every path runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

SIZES = {"small": dict(n_layer=6, n_head=6, n_embd=384, vocab_size=65),
         "gpt2": dict(n_layer=12, n_head=12, n_embd=768, vocab_size=50257),
         "smoke": dict(n_layer=2, n_head=2, n_embd=32, vocab_size=65)}
GPT_ENGINES = ("seqlab_fp32", "seqlab_fp32_fixed", "seqlab_bf16", "seqlab_int8", "seqlab_auto", "hf_eager", "hf_compile", "ort_fp32", "ort_int8",
               "ct2_fp32", "ct2_int8")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- GPT: build one set of weights, then every engine's copy of them ----------------------------------
def build_gpt(size: str, positions: int, work: Path, engines=GPT_ENGINES) -> dict:
    """A random GPT-2 checkpoint -> a seqlab run (import-hf) -> its ONNX (fp32, int8) and HF exports -> CT2
    (each export only when one of ``engines`` needs it)."""
    import torch
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    from seqlab.export import export_run
    from seqlab.interop.hf import from_hf

    torch.manual_seed(0)
    spec = SIZES[size]
    cfg = transformers.GPT2Config(n_positions=positions, bos_token_id=0, eos_token_id=0, pad_token_id=0, **spec)
    ckpt = work / "ckpt"
    transformers.GPT2LMHeadModel(cfg).save_pretrained(ckpt)
    vocab = {f"t{i}": i for i in range(spec["vocab_size"])}  # one token string per id, for CTranslate2's API
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t1"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.save(str(ckpt / "tokenizer.json"))
    run = work / "run"
    from_hf(ckpt, out=run, overwrite=True)
    paths = {"run": run, "ckpt": ckpt}
    for p in ("fp32", "int8"):
        if f"ort_{p}" in engines:
            export_run(run, "onnx", work / f"onnx-{p}", precision=p, overwrite=True)
            paths[f"onnx_{p}"] = work / f"onnx-{p}"
    if not any(e.startswith(("hf_", "ct2_")) for e in engines):
        return paths
    export_run(run, "hf", work / "hf", overwrite=True)
    paths["hf"] = work / "hf"
    if not any(e.startswith("ct2_") for e in engines):
        return paths
    try:
        from ctranslate2.converters import TransformersConverter

        TransformersConverter(str(work / "hf")).convert(str(work / "ct2"), force=True)
        paths["ct2"] = work / "ct2"
    except Exception as e:  # noqa: BLE001 - report, keep benchmarking the others
        log(f"CTranslate2 conversion failed: {type(e).__name__}: {e}")
    return paths


class GPTEngines:
    """Each engine as ``run(prompts (B, 16) int64, n) -> new ids (B, n)``, made lazily."""

    def __init__(self, paths: dict, threads: int, hf_compile: bool):
        self.paths, self.threads, self.hf_compile = paths, threads, hf_compile
        self._made: dict = {}

    def make(self, name: str):
        if name in self._made:
            return self._made[name]
        p = self.paths
        if name.startswith(("seqlab_", "hf_")):
            import torch

            torch.set_num_threads(self.threads)
        if name.startswith("seqlab_"):
            import seqlab
            from seqlab.models.sampling import GenerationConfig, generate, prepare_for_generation

            # seqlab's default path: threads=None lets the native step's ThreadChooser pick n or 1 thread per step;
            # seqlab_fp32_fixed pins the thread count (no chooser), to tell the chooser's effect apart (issue 14)
            fixed = self.threads if name.endswith("_fixed") else None
            model, used = prepare_for_generation(seqlab.load(p["run"]).module, name.split("_")[1], fixed)

            def fn(prompts, n, model=model):
                cfg = GenerationConfig(max_new_tokens=n, greedy=True)
                return np.array(generate(model, prompts.tolist(), cfg))

            def chosen(model=model):  # the native step's thread count now (ThreadChooser), for the stability study
                native = getattr(model, "native", None)
                chooser = getattr(native, "_chooser", None)
                return chooser.best if chooser is not None else getattr(native, "threads", None)

            fn.threads_chosen = chosen
        elif name.startswith("hf_"):
            import torch
            import transformers

            hf = transformers.AutoModelForCausalLM.from_pretrained(p["hf"]).eval()
            if name == "hf_compile":
                if not self.hf_compile:
                    return None
                hf.generation_config.cache_implementation = "static"
                hf.forward = torch.compile(hf.forward, mode="reduce-overhead", fullgraph=True)

            def fn(prompts, n, hf=hf):
                with torch.inference_mode():
                    x = torch.from_numpy(prompts)
                    out = hf.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n, min_new_tokens=n,
                                      do_sample=False, pad_token_id=0)
                return out[:, prompts.shape[1]:].numpy()
        elif name.startswith("ort_"):
            import seqlab.onnx

            lm = seqlab.onnx.load(p[f"onnx_{name.split('_')[1]}"], threads=self.threads)

            def fn(prompts, n, lm=lm):
                return np.array(lm.generate_ids(prompts.tolist(), n, greedy=True))
        elif name.startswith("ct2_"):
            if "ct2" not in p:
                return None
            import ctranslate2

            compute = {"fp32": "float32", "int8": "int8_float32"}[name.split("_")[1]]
            gen = ctranslate2.Generator(str(p["ct2"]), device="cpu", compute_type=compute, intra_threads=self.threads)

            def fn(prompts, n, gen=gen):
                toks = [[f"t{i}" for i in row] for row in prompts.tolist()]
                res = gen.generate_batch(toks, max_length=n, min_length=n, sampling_topk=1,
                                         include_prompt_in_result=False)
                return np.array([r.sequences_ids[0][:n] for r in res])
        else:
            raise ValueError(name)
        self._made[name] = fn
        return fn


def bench_gpt(size: str, batches: list[int], new_tokens: int, rounds: int, threads: int, hf_compile: bool,
              only: str | None = None, artifacts: str | None = None, engines=GPT_ENGINES) -> dict:
    with tempfile.TemporaryDirectory() as d:
        if artifacts:  # built by the parent (--rss): this process loads one engine only
            paths = json.loads(Path(artifacts, "paths.json").read_text())
        else:
            paths = build_gpt(size, 16 + new_tokens, Path(d), engines)
        names = [only] if only else list(engines)
        engines = GPTEngines(paths, threads, hf_compile)
        g = np.random.default_rng(0)
        out = {}
        for B in batches:
            prompts = g.integers(1, SIZES[size]["vocab_size"], size=(B, 16)).astype(np.int64)
            res = {"times": {}, "equal_to_seqlab_fp32": {}}
            ref = None
            live = []
            for name in names:  # warm up each engine (the compile happens here) and check its tokens
                try:
                    fn = engines.make(name)
                    if fn is None:
                        continue
                    toks = fn(prompts, new_tokens)
                except Exception as e:  # noqa: BLE001
                    res.setdefault("failed", {})[name] = f"{type(e).__name__}: {str(e)[:200]}"
                    log(f"{size} B={B} {name} failed: {e}")
                    continue
                if name == "seqlab_fp32":
                    ref = toks
                if ref is not None:
                    res["equal_to_seqlab_fp32"][name] = bool(np.array_equal(toks, ref))
                live.append(name)
                res["times"][name] = []
            for r in range(rounds):
                order = live[r % max(1, len(live)):] + live[: r % max(1, len(live))]  # rotate who runs first
                for name in order:
                    fn = engines.make(name)
                    t = time.perf_counter()
                    fn(prompts, new_tokens)
                    res["times"][name].append(round(time.perf_counter() - t, 4))
                    if hasattr(fn, "threads_chosen"):  # issue 14: does the chooser lock onto 1 thread after HF?
                        res.setdefault("native_threads_after_round", {}).setdefault(name, []).append(fn.threads_chosen())
                    res.setdefault("order", {}).setdefault(f"round{r}", order)
            tps = {n: round(B * new_tokens / min(ts), 1) for n, ts in res["times"].items() if ts}
            res["tokens_per_s"] = tps
            ratios = {}
            for p in ("fp32", "int8"):
                s = tps.get(f"seqlab_{p}")
                for other in ("ct2", "ort"):
                    o = tps.get(f"{other}_{p}")
                    if s and o:
                        ratios[f"seqlab_vs_{other}_{p}"] = round(s / o, 2)
                        ratios[f"seqlab_vs_{other}_{p}_per_round"] = [
                            round(b / a, 2) for a, b in zip(res["times"][f"seqlab_{p}"], res["times"][f"{other}_{p}"])]
            if tps.get("hf_eager") and tps.get("seqlab_fp32"):
                ratios["seqlab_fp32_vs_hf_eager"] = round(tps["seqlab_fp32"] / tps["hf_eager"], 2)
            res["ratios"] = ratios
            log(f"gpt {size} batch {B}: " + ", ".join(f"{n} {v:,.0f}" for n, v in tps.items()) + " tok/s")
            out[f"batch{B}"] = res
    return out


def peak_rss_mib() -> float:
    """This process's peak resident memory: VmHWM of its own address space (getrusage's ru_maxrss would
    carry the parent's peak across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def rss_per_engine(args) -> dict:
    """Peak RSS (MiB) of one process per GPT engine (``--only``), batch 1, the first size. The weights are
    built and exported here once; each child imports only what its engine needs (no torch for ONNX Runtime
    and CTranslate2) and generates."""
    out = {}
    with tempfile.TemporaryDirectory() as d:
        paths = build_gpt(args.sizes[0], 16 + args.new_tokens, Path(d), args.gpt_engines)
        Path(d, "paths.json").write_text(json.dumps({k: str(v) for k, v in paths.items()}))
        for name in args.gpt_engines:
            if name == "hf_compile" and not args.hf_compile:
                continue
            cmd = [sys.executable, __file__, "--only", name, "--artifacts", d, "--sizes", args.sizes[0], "--batches",
                   "1", "--rounds", "1", "--new-tokens", str(args.new_tokens), "--threads", str(args.threads)]
            if args.hf_compile:
                cmd.append("--hf-compile")
            res = subprocess.run(cmd, capture_output=True, text=True)
            try:
                out[name] = json.loads(res.stdout.strip().splitlines()[-1])["peak_rss_mib"]
            except (json.JSONDecodeError, KeyError, IndexError):
                out[name] = f"failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}"
    return out


# ---- classification: eager vs ONNX Runtime ------------------------------------------------------------------
def bench_classify(rounds: int, threads: int, smoke: bool, length: int = 64) -> dict:
    import torch

    import seqlab
    import seqlab.onnx
    from seqlab.cli.main import main
    from seqlab.export import export_run

    out = {}
    with tempfile.TemporaryDirectory() as d:
        models = {"bigru": ["--model", "gru"], "transformer": ["--model", "transformer"]}
        for name, args in models.items():
            small = (["--set", "model.hidden=16"] if name == "bigru" else
                     ["--set", "model.embed_dim=16", "--set", "model.d_ff=32", "--set", "model.n_head=2"]) if smoke else []
            run = Path(d) / name
            assert main(["-q", "train", "classify", "--data", "builtin:longrange?distance=10&n=300", *args, *small,
                         "--epochs", "1", "--out", str(run)]) == 0
            loaded = seqlab.load(run)
            export_run(run, "onnx", Path(d) / f"{name}-onnx", overwrite=True)
            ort = seqlab.onnx.load(Path(d) / f"{name}-onnx", threads=threads)
            V = loaded.tokenizer.vocab_size
            g = np.random.default_rng(0)
            res = {}
            for B, reps in ((1, 20 if not smoke else 3), (64, 5 if not smoke else 1)):
                ids = g.integers(6, V, size=(B, length)).astype(np.int64)
                mask = np.ones_like(ids, dtype=bool)
                ti, tm = torch.from_numpy(ids), torch.from_numpy(mask)

                def eager():
                    with torch.inference_mode():
                        loaded.module(ti, tm)

                def onnx():
                    ort.logits(ids, mask)

                eager(), onnx()
                times = {"eager": [], "ort": []}
                for r in range(rounds):
                    for k, fn in ((("eager", eager), ("ort", onnx)) if r % 2 == 0 else (("ort", onnx), ("eager", eager))):
                        t = time.perf_counter()
                        for _ in range(reps):
                            fn()
                        times[k].append((time.perf_counter() - t) / reps)
                if B == 1:
                    res["batch1_latency_ms"] = {k: round(1000 * min(v), 3) for k, v in times.items()}
                else:
                    res["batch64_sentences_per_s"] = {k: round(B / min(v), 1) for k, v in times.items()}
            res["faster_batch1"] = min(res["batch1_latency_ms"], key=res["batch1_latency_ms"].get)
            res["faster_batch64"] = max(res["batch64_sentences_per_s"], key=res["batch64_sentences_per_s"].get)
            log(f"classify {name}: {res}")
            out[name] = res
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", nargs="*", default=["gpt", "seq2seq", "classify"])
    ap.add_argument("--sizes", nargs="+", default=["small", "gpt2"], choices=list(SIZES))
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    ap.add_argument("--hf-compile", action="store_true", help="also HF generate with a static cache + torch.compile")
    ap.add_argument("--seq2seq-run", default=None, help="a trained seq2seq Transformer run (default: train a small one)")
    ap.add_argument("--seq2seq-batches", nargs="+", type=int, default=[1, 64])
    ap.add_argument("--seq2seq-src", default=None, help="source sentences, one a line (.gz too); default random ids")
    ap.add_argument("--seq2seq-sentences", type=int, default=64, help="how many sources each engine decodes per round")
    ap.add_argument("--isolate", action="store_true", help="seq2seq: each engine timed in its own process")
    ap.add_argument("--seq2seq-engines", nargs="+", default=None, help="only these (seqlab is always needed: ratios are to it)")
    ap.add_argument("--seq2seq-length-penalty", type=float, default=None, help="override the run's (0: every engine's same search)")
    ap.add_argument("--rss", action="store_true", help="peak RSS of each GPT engine, one process each")
    ap.add_argument("--gpt-engines", nargs="+", default=list(GPT_ENGINES), choices=GPT_ENGINES,
                    help="only these GPT engines (timing and --rss)")
    ap.add_argument("--only", default=None, choices=GPT_ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--artifacts", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one round: checks that every path runs")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.batches, args.new_tokens, args.rounds = ["smoke"], [1, 2], 8, 1
        args.seq2seq_batches = [1, 4]
    if args.only:  # a child of --rss: one engine, then its peak RSS
        bench_gpt(args.sizes[0], args.batches, args.new_tokens, args.rounds, args.threads, args.hf_compile, args.only,
                  args.artifacts)
        print(json.dumps({"peak_rss_mib": peak_rss_mib()}))
        return
    import torch
    import transformers

    torch.set_num_threads(args.threads)

    res = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
           "transformers": transformers.__version__, "threads": args.threads,
           "cpu": platform.processor() or platform.machine(), "args": vars(args), "smoke": args.smoke}
    try:
        import ctranslate2
        import onnxruntime

        res["ctranslate2"], res["onnxruntime"] = ctranslate2.__version__, onnxruntime.__version__
    except ImportError as e:
        log(f"missing engine: {e}")
    if "gpt" in args.sections:
        res["gpt"] = {size: bench_gpt(size, args.batches, args.new_tokens, args.rounds, args.threads, args.hf_compile,
                                      engines=args.gpt_engines) for size in args.sizes}
    if args.rss:  # also alone: --sections --rss --sizes gpt2
        res["gpt_peak_rss_mib"] = {"size": args.sizes[0], "batch": 1, **rss_per_engine(args)}
    if "seq2seq" in args.sections:
        import engines_seq2seq

        res["seq2seq"] = engines_seq2seq.bench(args, args.smoke)
    if "classify" in args.sections:
        res["classify"] = bench_classify(args.rounds, args.threads, args.smoke)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
