"""transfer: masked-LM pre-training, then fine-tuning, against the same BERT from scratch, at 1/10/100% labels.

1. ``seqlab train mlm`` on unlabelled sentences (labels unused).
2. ``seqlab train classify --model bert --init MLM_RUN`` on 1%, 10% and 100% of the labelled training set
   (stratified, seeded subsets), and the same BERT shape from scratch on the same subset.

Quick mode: generated Korean reviews (the tokens-ko generator; the unlabelled corpus is a separate draw).
Full mode: SST-2 through ``$SEQLAB_DATA_MIRROR`` when present (a 20k-sentence sample for pre-training,
fine-tuning subsets of 8k labelled sentences, the 872-sentence dev set as test); generated data otherwise.
This is benchmarks/bert_sst2.py made a study, smaller.
"""

from __future__ import annotations

import gzip
import math
import os
import random
from pathlib import Path

from .. import load
from .figures import lines
from .runner import Study, StudyResult
from .tokens_ko import generated

CLAIM_KO = "원래의 모델 파라미터를 가져오고, 거기서 적은 데이터를 추가해서 모델 파라미터를 목적에 맞게 좀 더 튜닝하는 방식."
THRESHOLD = ("averaged over the 1% and 10% label fractions (and over 3 training seeds each in quick mode, 2 in full), "
             "the pre-trained-then-fine-tuned BERT beats the same BERT from scratch by at least 0.05 test accuracy")
FRACTIONS = (0.01, 0.1, 1.0)


def _sst2(seed: int):
    mirror = os.environ.get("SEQLAB_DATA_MIRROR")
    if not mirror:
        return None
    train_f, dev_f = Path(mirror) / "sst2" / "train.tsv.gz", Path(mirror) / "sst2" / "dev.tsv"
    if not (train_f.is_file() and dev_f.is_file()):
        return None
    with gzip.open(train_f, "rt", encoding="utf-8") as f:
        train = [line.rstrip("\n").split("\t") for line in f][1:]
    dev = [line.rstrip("\n").split("\t") for line in dev_f.read_text(encoding="utf-8").splitlines()][1:]
    train = [r for r in train if len(r) == 2]
    random.Random(seed).shuffle(train)
    return [r[0] for r in train[:20000]], train[20000:28000], [r for r in dev if len(r) == 2]


def subset(rows: list, fraction: float, seed: int) -> list:
    """A stratified, seeded subset with at least 2 examples per class."""
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r[1], []).append(r)
    out = []
    for label, group in sorted(by.items()):
        group = group[:]
        random.Random(f"{seed}-{label}").shuffle(group)
        out += group[: max(2, round(len(group) * fraction))]
    random.Random(seed).shuffle(out)
    return out


def run(ctx) -> StudyResult:
    data = None if ctx.quick else _sst2(ctx.seed)
    source = "SST-2 sample (SEQLAB_DATA_MIRROR)" if data else "generated Korean reviews"
    if data is None:
        corpus = [r[0] for r in generated(ctx.n(3000, 20000, 60), ctx.seed + 50, False)]
        data = (corpus, generated(ctx.n(1000, 6000, 40), ctx.seed, False), generated(ctx.n(300, 1000, 20), ctx.seed + 7, False))
    corpus, labelled, test = data
    corpus_f = ctx.write_csv("corpus.csv", ["text"], [[t] for t in corpus])
    test_f = ctx.write_csv("test.csv", ["text", "label"], test)
    arch = {"n_layer": 2, "n_head": 2, "d_model": 64, "d_ff": 128, "max_position": 64}
    ctx.train("mlm", "bert", str(corpus_f), "mlm", {"model": arch, "data": {"vocab_size": ctx.pick(500, 8000), "max_len": 64}},
              epochs=ctx.pick(8, 30), batch_size=32, lr=1e-3)  # full: 5 epochs left the MLM loss at 6.55 (barely trained)
    mlm_loss = load(ctx.run_dir("mlm")).evaluate(str(corpus_f)).get("loss")
    acc, rows = {}, []
    for frac in FRACTIONS:
        sub = subset(labelled, frac, ctx.seed)
        f = ctx.write_csv(f"train-{frac:g}.csv", ["text", "label"], sub)
        steps_per_epoch = math.ceil(len(sub) * 0.9 / 16)  # 10% is held out for validation
        epochs = min(100, max(4, math.ceil(ctx.pick(100, 400) / steps_per_epoch)))  # at least ~100 (400) steps each
        seeds = [ctx.seed + k for k in range(ctx.pick(3, 2) if frac < 1 else 1)]  # small subsets are noisy: average
        spread = {}
        for kind in ("pre-trained", "from scratch"):
            runs = []
            for seed in seeds:
                name = f"{'ft' if kind == 'pre-trained' else 'scratch'}-{frac:g}-s{seed}"
                sets = {"train": {"patience": 0}, "data": {"tokenizer": "wordpiece", "vocab_size": ctx.pick(500, 8000)}}
                if kind == "from scratch":
                    sets["model"] = arch
                ctx.train("classify", "bert", str(f), name, sets, init=ctx.run_dir("mlm") if kind == "pre-trained" else None,
                          epochs=epochs, batch_size=16, lr=1e-3, seed=seed)
                runs.append(load(ctx.run_dir(name)).evaluate(str(test_f))["accuracy"])
            acc[(kind, frac)] = sum(runs) / len(runs)
            spread[kind] = f"{min(runs):.2f}-{max(runs):.2f}" if len(runs) > 1 else ""
        rows.append([f"{frac:.0%}", len(sub), epochs, len(seeds), round(acc[("pre-trained", frac)], 3), spread["pre-trained"],
                     round(acc[("from scratch", frac)], 3), spread["from scratch"],
                     round(acc[("pre-trained", frac)] - acc[("from scratch", frac)], 3)])
    fig = ctx.path("accuracy_vs_labels.png")
    xs = [len(subset(labelled, fr, ctx.seed)) for fr in FRACTIONS]
    lines(fig, {k: (xs, [acc[(k, fr)] for fr in FRACTIONS]) for k in ("pre-trained", "from scratch")},
          f"BERT, MLM pre-training then fine-tuning vs from scratch ({source})", "labelled training examples (count)",
          "test accuracy (fraction correct)", "전이 학습: 적은 데이터를 추가해서 튜닝", hline=0.5)
    gaps = [acc[("pre-trained", fr)] - acc[("from scratch", fr)] for fr in FRACTIONS[:2]]
    mean_gap = sum(gaps) / len(gaps)
    holds = mean_gap >= 0.05
    summary = (f"pre-trained minus scratch: {gaps[0]:+.3f} at 1% labels, {gaps[1]:+.3f} at 10%, "
               f"{acc[('pre-trained', 1.0)] - acc[('from scratch', 1.0)]:+.3f} at 100% ({source}; MLM valid loss {mlm_loss:.2f})"
               if mlm_loss is not None else f"pre-trained minus scratch: {gaps[0]:+.3f} at 1%, {gaps[1]:+.3f} at 10%")
    explanation = (
        "Masked-LM pre-training learns from unlabelled sentences which tokens go together (stems with endings, "
        "adjectives with their subjects), so the fine-tuned encoder starts with useful contextual vectors and the few "
        "labels only have to map them to classes. From scratch, the same network must learn both the language and "
        "the task from those few labels, and with 1% of them it barely leaves chance. The advantage shrinks as labels "
        "grow: with all of them, scratch training can learn what it needs on its own. How much pre-training helps "
        "depends on how long it ran; the quick mode pre-trains for a few epochs on a few thousand sentences.")
    return StudyResult("holds" if holds else "does not hold", summary,
                       ["labels", "examples", "epochs", "seeds", "pre-trained + fine-tuned (mean)", "range",
                        "from scratch (mean)", "range", "difference of means"], rows,
                       [fig.name], explanation,
                       {"accuracy": {f"{k}@{fr}": v for (k, fr), v in acc.items()}, "mean_gap_1_10": mean_gap,
                        "mlm_valid_loss": mlm_loss, "source": source})


STUDY = Study("transfer", CLAIM_KO,
              "Transfer learning needs fewer labels: MLM pre-training then fine-tuning beats the same model trained "
              "from scratch when labels are few.", THRESHOLD, quick_s=40, full_s=300, run=run)
