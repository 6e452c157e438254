"""longrange: accuracy against distance (the demo's section), plus a task that needs two far-apart tokens.

Task 1, builtin:longrange: the label is the first token, ``distance`` noise tokens before the end. Any
model that can see the first token solves it; a left-to-right RNN answering from its last state must
carry it across the distance.

Task 2, "pair": ``s_i  w ... w  e_j`` (a start symbol, ``distance`` noise words, an end symbol), label
"same" when i = j. The answer depends on two tokens ``distance`` apart together. TextCNN's filters see at
most 5 neighbouring words and max-pooling keeps each filter's best match *independently*, so no feature
holds both ends: what the notes mean by "TextCNN is weak on far-apart words".
"""

from __future__ import annotations

import random

from .. import load
from .figures import bars, lines
from .probes import SMALL
from .runner import Study, StudyResult

MODELS = ("rnn", "lstm", "gru", "textcnn", "transformer")
CLAIM_KO = "멀리 있는 입력의 영향이 낮다. · TextCNN: 병렬화 가능이 장점. 하지만 RNN보다, 멀리 떨어진 단어들에 대한 모델링이 힘듦."
THRESHOLD = ("(a) the plain RNN's accuracy at the longest distance is at most 0.65 while at the shortest it is at least "
             "0.9; (b) on the pair task the best model reaches at least 0.75 and TextCNN stays at least 0.15 below it "
             "(holds if both; inconclusive if no model learns the pair task)")


def pair_rows(n: int, distance: int, seed: int, symbols: int = 4) -> list[list[str]]:
    rng = random.Random(f"pair-{seed}-{n}-{distance}")
    rows = []
    for i in range(n):
        a = rng.randrange(symbols)
        b = a if i % 2 == 0 else rng.choice([k for k in range(symbols) if k != a])
        words = [f"s{a}"] + [f"w{rng.randrange(20)}" for _ in range(distance)] + [f"e{b}"]
        rows.append([" ".join(words), "same" if a == b else "different"])
    rng.shuffle(rows)
    return rows


def _train(ctx, m, data, name):
    ctx.train("classify", m, data, name, {"model": SMALL[m], "train": {"patience": 4}}, epochs=ctx.pick(10, 25),
              batch_size=32, lr=3e-3)
    return load(ctx.run_dir(name))


def run(ctx) -> StudyResult:
    distances = ctx.pick((5, 20, 40), (10, 40, 80, 120))
    n = ctx.n(600, 2000, 40)
    rows, acc = [], {}
    for d in distances:
        for m in MODELS:
            r = _train(ctx, m, f"builtin:longrange?distance={d}&n={n}", f"longrange-{m}-d{d}")
            a = r.evaluate(f"builtin:longrange?distance={d}&n=300&seed={ctx.seed + 99}")["accuracy"]
            acc[(m, d)] = a
    for m in MODELS:
        rows.append(["longrange", m] + [round(acc[(m, d)], 3) for d in distances])
    pd = ctx.pick(12, 30)
    train_csv = ctx.write_csv("pair-train.csv", ["text", "label"], pair_rows(ctx.n(1600, 4000, 40), pd, ctx.seed))
    test_csv = ctx.write_csv("pair-test.csv", ["text", "label"], pair_rows(400, pd, ctx.seed + 1000))
    pair = {}
    for m in MODELS:
        r = _train(ctx, m, str(train_csv), f"pair-{m}")
        pair[m] = r.evaluate(str(test_csv))["accuracy"]
    fig = ctx.path("accuracy_vs_distance.png")
    lines(fig, {m: (list(distances), [acc[(m, d)] for d in distances]) for m in MODELS},
          "builtin:longrange: the label is the first token", "distance from the label token to the end (tokens)",
          "test accuracy (fraction correct)", CLAIM_KO[:28] + "…", hline=0.5)
    fig2 = ctx.path("pair_task.png")
    bars(fig2, {m: pair[m] for m in MODELS}, f"pair task: label = (first symbol == last symbol), {pd} tokens apart",
         "test accuracy (fraction correct)", "TextCNN: 멀리 떨어진 단어들에 대한 모델링이 힘듦", xlabel="model", hline=0.5)
    lo, hi = distances[0], distances[-1]
    a_ok = acc[("rnn", lo)] >= 0.9 and acc[("rnn", hi)] <= 0.65
    best = max(v for k, v in pair.items() if k != "textcnn")
    b_learned = best >= 0.75
    b_ok = b_learned and pair["textcnn"] <= best - 0.15
    if not b_learned:
        verdict = "inconclusive"
    else:
        verdict = "holds" if a_ok and b_ok else "does not hold"
    summary = (f"plain RNN {acc[('rnn', lo)]:.2f} at distance {lo} vs {acc[('rnn', hi)]:.2f} at {hi} "
               f"(LSTM {acc[('lstm', hi)]:.2f}, GRU {acc[('gru', hi)]:.2f}, TextCNN {acc[('textcnn', hi)]:.2f}, "
               f"Transformer {acc[('transformer', hi)]:.2f}); pair task: TextCNN {pair['textcnn']:.2f} vs best other {best:.2f}")
    explanation = (
        "On builtin:longrange the plain RNN must carry the first token through every tanh step to its last state, and "
        "the trace fades, so its accuracy drops toward chance (0.5) as the distance grows, while LSTM/GRU keep it in "
        "gated state longer. TextCNN does well here: one filter that fires on the marker word, max-pooled over the whole "
        "sequence, finds it at any distance. Its weakness shows on the pair task: the label depends on two tokens "
        "together, and a filter of width at most 5 never sees both; max-pooling keeps each filter's best match on its "
        "own, and a linear layer over those separate features cannot test equality of two symbols, so it stays near "
        "chance. A Transformer (every token attends to every other) or a gated RNN (remember the first symbol, compare "
        "at the end) can represent the pair.")
    columns = ["task", "model", *[f"d={d}" for d in distances]]
    rows += [[f"pair (d={pd})", m, round(pair[m], 3), *[""] * (len(distances) - 1)] for m in MODELS]
    return StudyResult(verdict, summary, columns, rows, [fig.name, fig2.name], explanation,
                       {"longrange": {f"{m}@{d}": acc[(m, d)] for m in MODELS for d in distances}, "pair": pair,
                        "rnn_claim_holds": a_ok, "textcnn_claim_holds": b_ok})


STUDY = Study("longrange", CLAIM_KO,
              "A plain RNN loses the first token as the distance to the end grows (LSTM/GRU less so); TextCNN is weak "
              "at relating far-apart words.", THRESHOLD, quick_s=50, full_s=420, run=run)
