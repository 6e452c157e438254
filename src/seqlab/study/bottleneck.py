"""bottleneck: one context vector loses more as the input grows; attention does not.

Three encoder-decoders learn the same generated transduction, builtin:reverse (reverse a sequence of
digits), on lengths up to ``max_len``: the GRU encoder-decoder whose decoder sees the source only through
the encoder's last state (Cho et al. 2014), the same GRU with Bahdanau attention, and a Transformer.
Each is scored on fresh sequences of each length by exact match and BLEU (greedy decoding).
"""

from __future__ import annotations

from .. import load
from .figures import lines
from .runner import Study, StudyResult

CLAIM_KO = "인코더가 입력 시퀀스를 하나의 고정된 길이의 벡터로 압축 합니다. 이로 인해 입력 시퀀스의 길이가 길어질수록 정보의 손실이 발생할 수 있습니다."
THRESHOLD = ("the context-vector GRU's exact match at the longest length is at least 0.3 below its exact match at the "
             "shortest, and Bahdanau attention beats it at the longest length by at least 0.2 (inconclusive if "
             "attention itself stays below 0.5 at the shortest length)")
MODELS = {
    "gru": ("context vector (GRU)", {"model": {"hidden": 64, "emb_dim": 32, "dropout": 0.0}}),
    "bahdanau": ("Bahdanau attention (GRU)", {"model": {"hidden": 64, "emb_dim": 32, "dropout": 0.0, "attn_dim": 32}}),
    "transformer": ("Transformer", {"model": {"d_model": 64, "n_head": 4, "n_enc_layer": 2, "n_dec_layer": 2,
                                              "d_ff": 128, "dropout": 0.0}}),
}


def _score(hyps: list[str], refs: list[str]) -> tuple[float, float]:
    import sacrebleu

    exact = sum(h.split() == r.split() for h, r in zip(hyps, refs)) / len(refs)
    return exact, sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score


def run(ctx) -> StudyResult:
    from ..data.builtin import generate

    max_len = ctx.pick(16, 60)
    lengths = list(range(4, max_len + 1, ctx.pick(4, 8)))
    if lengths[-1] != max_len:
        lengths.append(max_len)
    data = f"builtin:reverse?n={ctx.n(2000, 8000, 50)}&min_len=3&max_len={max_len}"
    scores, rows = {}, []
    for m, (label, sets) in MODELS.items():
        sets = {**sets, "data": {"beam": 1, "valid_bleu_max": 100, "label_smoothing": 0.0,
                                 "copy_source": "off"},  # the architectures alone: no copy head for the Transformer
                "train": {"patience": 0}}
        ctx.train("seq2seq", m, data, m, sets, epochs=ctx.pick(8, 12), batch_size=32, lr=3e-3)
        run_ = load(ctx.run_dir(m))
        for L in lengths:
            test = generate("reverse", {"n": str(ctx.n(40, 200, 5)), "min_len": str(L), "max_len": str(L)},
                            seed=ctx.seed + 500 + L)
            hyps = [p["translation"] for p in run_.predict(test["src"], beam=1)]
            scores[(m, L)] = _score(hyps, test["tgt"])
        rows.append([label] + [f"{scores[(m, L)][0]:.2f} / {scores[(m, L)][1]:.0f}" for L in lengths])
    fig = ctx.path("exact_match_vs_length.png")
    lines(fig, {MODELS[m][0]: (lengths, [scores[(m, L)][0] for L in lengths]) for m in MODELS},
          "builtin:reverse: exact match against input length (greedy)", "input length (tokens)",
          "exact match (fraction of sequences)", CLAIM_KO[:40] + "…")
    fig2 = ctx.path("bleu_vs_length.png")
    lines(fig2, {MODELS[m][0]: (lengths, [scores[(m, L)][1] for L in lengths]) for m in MODELS},
          "builtin:reverse: BLEU against input length (greedy)", "input length (tokens)", "BLEU (0-100)",
          CLAIM_KO[:40] + "…")
    lo, hi = lengths[0], lengths[-1]
    ctx_drop = scores[("gru", lo)][0] - scores[("gru", hi)][0]
    gap = scores[("bahdanau", hi)][0] - scores[("gru", hi)][0]
    if scores[("bahdanau", lo)][0] < 0.5:
        verdict = "inconclusive"
    else:
        verdict = "holds" if ctx_drop >= 0.3 and gap >= 0.2 else "does not hold"
    summary = (f"context vector: exact match {scores[('gru', lo)][0]:.2f} at length {lo} → {scores[('gru', hi)][0]:.2f} at "
               f"{hi}; Bahdanau {scores[('bahdanau', lo)][0]:.2f} → {scores[('bahdanau', hi)][0]:.2f}; Transformer "
               f"{scores[('transformer', lo)][0]:.2f} → {scores[('transformer', hi)][0]:.2f}")
    explanation = (
        "Without attention the decoder's only view of the source is one vector of 64 numbers, the encoder's last "
        "state, and it has to hold every symbol and its position: short inputs fit, long ones do not, so exact match "
        "falls with the length (BLEU falls more slowly: the output is still mostly right, just not entirely). With "
        "attention the decoder reads the encoder state of the position it needs at each step (for reversal, the "
        "source right to left), so nothing must be squeezed through one vector; what still limits it is how well it "
        "learned to move its focus one step at a time. The Transformer attends the same way, through several layers "
        "and heads, and has to learn positions from its position encodings: with little data it can lag behind the "
        "RNN with attention.")
    return StudyResult(verdict, summary, ["model (exact match / BLEU)", *[f"len {L}" for L in lengths]], rows,
                       [fig.name, fig2.name], explanation,
                       {f"{m}@{L}": {"exact_match": scores[(m, L)][0], "bleu": scores[(m, L)][1]}
                        for m in MODELS for L in lengths})


STUDY = Study("bottleneck", CLAIM_KO,
              "One context vector loses more as the input grows (exact match and BLEU fall with length); attention "
              "fixes it.", THRESHOLD, quick_s=45, full_s=570, run=run)
