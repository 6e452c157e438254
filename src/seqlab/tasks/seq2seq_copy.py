"""``data.copy_source=auto``: whether a seq2seq dataset's targets are built from their sources' words.

A summary reuses the dialogue's words and names (SAMSum: 69% of the summaries' words occur in their own
dialogue); a translation mostly does not (Multi30k de→en: 5%, fr→en: 3%). Where targets copy, three things
help and cost nothing elsewhere in the data: one joint vocabulary for both sides, one embedding matrix, and
the Transformer's pointer-generator output (``model.copy``, See et al. 2017) that can produce a source word
however rare it is among the targets. Where the targets are also much shorter than their sources (a summary,
not a copy or a reordering), beam search blocks repeated trigrams (``data.no_repeat_ngram=3``), as
summarisers do (See et al. 2017, BART): repetition is the copy model's known failure; and the Transformer's
dropout stays on the residual path only (``model.attn_dropout=0 model.ff_dropout=0``, fairseq's and BART's
defaults): long sources give few epochs in any budget, so the two dropped masks buy steps (19% faster) where
under-training, not over-fitting, is the risk (on Multi30k, many epochs of short pairs, the same change over-fit:
RESULTS #18, twenty-fifth session). The measured gains on SAMSum are in RESULTS #17/#18.

``resolve(comp, req, pairs)`` turns ``auto`` into ``on`` or ``off`` from the training pairs and applies ``on``
to every setting the user did not give (an explicit ``--set`` always wins).
"""

from __future__ import annotations

import dataclasses
import logging
import re

from ..errors import UserError

log = logging.getLogger(__name__)

COPY_OVERLAP = 0.5  # auto turns copying on when at least this share of the target words occur in their source
SUMMARY_RATIO = 0.5  # ... and blocks repeated trigrams when targets have at most this share of the source's words
PROFILE_PAIRS = 5000  # pairs read for the profile (the first ones: enough for a share, fast on any file)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclasses.dataclass(frozen=True)
class CopyProfile:
    overlap: float  # share of the targets' words (lowercased \w+ runs) that occur in their own source
    length_ratio: float  # target words / source words, over the pairs read
    pairs: int  # pairs read


def profile(src: list[str], tgt: list[str], limit: int = PROFILE_PAIRS) -> CopyProfile:
    """Word overlap and length ratio of the first ``limit`` (source, target) pairs; words are independent of
    the tokenizer (characters would overlap in any two texts of one script)."""
    hit = n_tgt = n_src = 0
    for s, t in zip(src[:limit], tgt[:limit]):
        s_words = [w.lower() for w in _WORD.findall(s)]
        seen = set(s_words)
        t_words = [w.lower() for w in _WORD.findall(t)]
        hit += sum(w in seen for w in t_words)
        n_tgt += len(t_words)
        n_src += len(s_words)
    return CopyProfile(round(hit / max(n_tgt, 1), 4), round(n_tgt / max(n_src, 1), 4), min(len(src), limit))


def resolve(comp, req, src: list[str], tgt: list[str]) -> dict | None:
    """Resolve ``comp.data.copy_source`` in place (``auto`` -> ``on``/``off``) and apply ``on``; returns the
    profile as a dict for meta.json (None when nothing was measured)."""
    data, model = comp.data, comp.model
    has_head = hasattr(model, "copy")
    if data.copy_source == "on" and not has_head:
        raise UserError(f"data.copy_source=on needs a model with a copy head (--model transformer); --model "
                        f"{comp.model_name} has none: drop data.copy_source or choose the Transformer")
    prof = None
    if data.copy_source == "auto":
        prof = profile(src, tgt)
        on = has_head and prof.overlap >= COPY_OVERLAP
        why = (f"{prof.overlap:.0%} of the target words occur in their source (auto copies at ≥ {COPY_OVERLAP:.0%})"
               if has_head else f"--model {comp.model_name} has no copy head")
        log.info("data.copy_source=auto -> %s: %s", "on" if on else "off", why)
        data = dataclasses.replace(data, copy_source="on" if on else "off")
    if data.copy_source == "on":
        prof = prof or profile(src, tgt)
        summary = prof.length_ratio <= SUMMARY_RATIO
        set_data = {"shared_vocab": True, **({"no_repeat_ngram": 3} if summary else {})}
        # only the Transformer has a copy head: its dropout stays on the residual path for summaries
        set_model = {"copy": True, "share_embeddings": True,
                     **({"attn_dropout": 0.0, "ff_dropout": 0.0} if summary else {})}
        data = dataclasses.replace(data, **{k: v for k, v in set_data.items() if not req.given("data", k)})
        model = dataclasses.replace(model, **{k: v for k, v in set_model.items() if not req.given("model", k)})
        log.info("copying source words: one joint vocabulary (data.shared_vocab=%s), shared embeddings "
                 "(model.share_embeddings=%s), the copy head (model.copy=%s), data.no_repeat_ngram=%d, "
                 "model.attn_dropout=%s, model.ff_dropout=%s (targets are %.0f%% of their source's length); --set "
                 "data.copy_source=off to turn this off", data.shared_vocab, model.share_embeddings, model.copy,
                 data.no_repeat_ngram, model.attn_dropout, model.ff_dropout, 100 * prof.length_ratio)
    comp.data, comp.model = data, model
    return dataclasses.asdict(prof) if prof else None
