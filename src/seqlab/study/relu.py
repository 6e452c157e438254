"""relu: why not ReLU in a plain RNN? The notes: it trades vanishing gradients for exploding ones.

The same plain-RNN classifier (seqlab's RecurrentClassifier with ``nonlinearity`` tanh or relu) trains on
builtin:longrange with and without gradient clipping; every step records the loss and the gradient norm
before clipping. A step whose loss or norm is not finite, or whose norm exceeds 100x the first step's,
counts as an explosion: detected, recorded, and training of that model stops there (no crash).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .figures import lines
from .probes import build, longrange_texts, tensors, word_tokenizer
from .runner import Study, StudyResult

CLAIM_KO = "RNN에서 ReLU를 사용하는 것은 그래디언트 폭발 문제와 dying ReLU 문제로 인해 학습이 어려울 수 있습니다."
THRESHOLD = ("for at least one of two W_h initialisations (torch's default, identity), without clipping, the ReLU RNN explodes (a non-finite loss or gradient, or a gradient norm above 100x its "
             "first step's) or its largest gradient norm is at least 10x the tanh RNN's; and the tanh RNN does not explode")
INITS = ("default", "identity")  # torch's uniform(±1/√H) W_h, or W_h = I (IRNN, Le et al. 2015: how ReLU RNNs are set up)
GROWTH = 100.0  # a norm this many times the first step's counts as an explosion


def _train(model, ids, mask, y, steps: int, clip: float, lr: float, seed: int) -> dict:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    losses, norms, exploded = [], [], None
    for step in range(steps):
        idx = torch.randint(0, len(y), (32,), generator=g)
        opt.zero_grad()
        loss = F.cross_entropy(model(ids[idx], mask[idx]), y[idx])
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip else float("inf")))
        losses.append(float(loss.detach()))
        norms.append(norm)
        if not (math.isfinite(norm) and math.isfinite(losses[-1])) or norm > GROWTH * max(norms[0], 1e-12):
            exploded = step
            break
        opt.step()
    return {"loss": losses, "norm": norms, "exploded_at": exploded}


def run(ctx) -> StudyResult:
    torch.set_num_threads(1)
    distance, steps = ctx.pick(40, 80), ctx.n(150, 600, 10)
    texts, labels = longrange_texts(distance, ctx.n(512, 2048, 32), ctx.seed + 1)
    tok = word_tokenizer(texts)
    ids, mask, y = tensors(tok, texts, labels, sorted(set(labels)))
    runs, rows = {}, []
    for init in INITS:
        for act in ("tanh", "relu"):
            for clip in (0.0, 1.0):
                model = build("rnn", tok.vocab_size, 2, ctx.seed, nonlinearity=act, hidden=64).train()
                if init == "identity":
                    with torch.no_grad():
                        model.rnn.weight_hh_l0.copy_(torch.eye(64))
                r = _train(model, ids, mask, y, steps, clip, lr=0.05, seed=ctx.seed)
                key = f"{act}, {init}, {'clip 1.0' if clip else 'no clip'}"
                runs[key] = r
                finite = [v for v in r["norm"] if math.isfinite(v)]
                rows.append([init, act, "1.0" if clip else "off", len(r["norm"]), r["norm"][0],
                             max(finite) if finite else float("nan"),
                             "step %d" % r["exploded_at"] if r["exploded_at"] is not None else "no",
                             r["loss"][-1] if math.isfinite(r["loss"][-1]) else "non-finite"])
    fig_n = ctx.path("gradient_norm.png")
    lines(fig_n, {k: (list(range(len(r["norm"]))), [v if math.isfinite(v) else float("nan") for v in r["norm"]])
                  for k, r in runs.items()},
          f"gradient norm during training (plain RNN, longrange distance {distance})", "optimizer step",
          "‖∇θ L‖ before clipping (log scale)", CLAIM_KO, logy=True)
    fig_l = ctx.path("loss.png")
    lines(fig_l, {k: (list(range(len(r["loss"]))), r["loss"]) for k, r in runs.items()},
          "training loss (cross-entropy, nats)", "optimizer step", "loss (nats)", CLAIM_KO, hline=math.log(2),
          hline_label="chance (ln 2)")

    def peak(k):
        f = [v for v in runs[k]["norm"] if math.isfinite(v)]
        return max(f) if f else float("inf")

    verdicts, parts, numbers = [], [], {}
    for init in INITS:
        relu, tanh = runs[f"relu, {init}, no clip"], runs[f"tanh, {init}, no clip"]
        ratio = peak(f"relu, {init}, no clip") / max(peak(f"tanh, {init}, no clip"), 1e-12)
        verdicts.append((relu["exploded_at"] is not None or ratio >= 10) and tanh["exploded_at"] is None)
        parts.append(f"{init} init: ReLU/tanh peak norm {ratio:.3g}x, ReLU "
                     + (f"exploded at step {relu['exploded_at']}" if relu["exploded_at"] is not None else "did not explode")
                     + (f", tanh exploded too (step {tanh['exploded_at']})" if tanh["exploded_at"] is not None else ""))
        numbers.update({f"{init}_peak_ratio": ratio, f"{init}_relu_exploded_at": relu["exploded_at"],
                        f"{init}_tanh_exploded_at": tanh["exploded_at"]})
    holds = any(verdicts)
    summary = "without clipping: " + "; ".join(parts)
    explanation = (
        "Through time, the gradient is multiplied by diag(σ'(a_t)) W_h once per step. tanh' ≤ 1 and saturates, so the "
        "product can only shrink or stay bounded (vanishing, the previous study). ReLU' is exactly 1 on every active unit, "
        "so the product is W_h^k restricted to the active units: when W_h's largest singular value over those units "
        "exceeds 1 it grows geometrically with the sequence length, and one large step pushes the weights further "
        "out, a runaway. Clipping the gradient norm bounds each update, which is why the clipped ReLU runs survive "
        "where the unclipped one does not (or only just does); units that stay negative get zero gradient (dying ReLU). "
        "With torch's default init (W_h entries in ±1/√H, spectral radius well below 1) nothing explodes in this "
        "budget: the explosion needs a recurrence that can amplify, which the identity init (or training) provides.")
    return StudyResult("holds" if holds else "does not hold", summary,
                       ["W_h init", "nonlinearity", "clip", "steps run", "first ‖∇‖", "peak finite ‖∇‖", "exploded", "last loss"],
                       rows, [fig_n.name, fig_l.name], explanation,
                       numbers)


STUDY = Study("relu", CLAIM_KO,
              "A plain RNN with ReLU instead of tanh has exploding gradients (inf/NaN or runaway norms) unless the "
              "gradient is clipped.", THRESHOLD, quick_s=15, full_s=120, run=run)
