"""Where does each token look? Attention weights of a trained run, for ``seqlab attention`` and the studies.

Works for runs whose model attends: classify with ``transformer`` or ``bert``, ``mlm`` (BERT) and ``lm``
with ``gpt``. The maps come from the models' ``return_attention=True`` path (an explicit softmax computed
only when asked; the outputs are the same as the fast path's).
"""

from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import UserError


@dataclass
class AttentionMaps:
    tokens: list[str]  # the positions' labels, as the model saw them (with [CLS]/[SEP] where it adds them)
    weights: torch.Tensor  # float (n_layer, n_head, T, T): row = query position, column = key; rows sum to 1
    causal: bool  # True for GPT (a query sees only keys at or before it)

    def to_json(self) -> dict:
        return {"tokens": self.tokens, "causal": self.causal, "n_layer": self.weights.shape[0], "n_head": self.weights.shape[1],
                "weights": [[[[round(float(v), 5) for v in row] for row in head] for head in layer] for layer in self.weights]}


def _label(tok, i: int) -> str:
    names = {tok.pad_id: "[PAD]", tok.cls_id: "[CLS]", tok.eos_id: "[SEP]", tok.mask_id: "[MASK]", tok.unk_id: "[UNK]"}
    return names.get(i, tok.id_to_token(i))


@torch.no_grad()
def attention_maps(run, text: str) -> AttentionMaps:
    """The attention of ``run`` (a ``seqlab.load`` result) over ``text``; UserError for a model without attention."""
    module, tok = run.module, getattr(run, "tokenizer", None)
    name = run.config.get("model_name", "?")
    if run.task not in ("classify", "mlm", "lm") or tok is None or not _attends(module):
        raise UserError(f"this run's model ({run.task} / {name}) has no attention to show; `seqlab attention` needs a "
                        f"classify run with --model transformer or bert, an mlm run, or an lm run with --model gpt")
    device = next(module.parameters()).device
    ids = tok.encode(text)
    if not ids:
        raise UserError(f"{text!r} has no tokens for this run's tokenizer; give some text")
    if run.task == "mlm":
        ids = [tok.cls_id] + ids + [tok.eos_id]
    x = torch.tensor([ids], device=device)
    mask = torch.ones_like(x, dtype=torch.bool)
    causal = False
    if run.task == "lm":
        limit = getattr(module.config, "block_size", len(ids))
        x, mask = x[:, -limit:], mask[:, -limit:]
        ids = ids[-limit:]
        _, maps = module(x, return_attention=True)
        causal = True
    elif run.task == "mlm":
        _, maps = module(x, mask, return_attention=True)
    else:
        _, maps = module(x, mask, return_attention=True)
        if getattr(module, "cls", None) is not None:  # TransformerClassifier with pool=cls
            ids = [None] + ids
        elif getattr(module, "cls_id", None) is not None:  # BertClassifier frames [CLS] tokens [SEP]
            framed, _ = module.frame(x, mask)
            ids = framed[0].tolist()
    tokens = ["[CLS]" if i is None else _label(tok, i) for i in ids]
    weights = torch.stack([m[0].float().cpu() for m in maps])  # (L, H, T, T)
    return AttentionMaps(tokens, weights, causal)


def _attends(module) -> bool:
    from .models.bert import BertClassifier, BertForMaskedLM
    from .models.classifier import TransformerClassifier
    from .models.gpt import GPT

    return isinstance(module, (TransformerClassifier, BertClassifier, BertForMaskedLM, GPT))


def plot_maps(maps: AttentionMaps, path, layer: int | None = None, head: int | None = None, title: str = ""):
    """A grid of heatmaps (rows: layers, columns: heads), tokens on both axes; Korean labels use a CJK font."""
    from .plots import _use_fonts_for, plt

    L, H = maps.weights.shape[:2]
    layers = [layer] if layer is not None else list(range(L))
    heads = [head] if head is not None else list(range(H))
    T = len(maps.tokens)
    _use_fonts_for(maps.tokens + [title])
    cell = max(2.2, 0.28 * T + 1.0)
    fig, axes = plt.subplots(len(layers), len(heads), figsize=(cell * len(heads) + 1.6, cell * len(layers) + 0.9),
                             squeeze=False, layout="constrained")
    im = None
    for r, li in enumerate(layers):
        for c, hi in enumerate(heads):
            ax = axes[r][c]
            im = ax.imshow(maps.weights[li, hi].numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
            ax.set_title(f"layer {li} · head {hi}", fontsize=9)
            ax.set_xticks(range(T), maps.tokens, rotation=70, ha="right", fontsize=7)
            ax.set_yticks(range(T), maps.tokens, fontsize=7)
            if r == len(layers) - 1:
                ax.set_xlabel("key (attended-to token)")
            if c == 0:
                ax.set_ylabel("query (attending token)")
    fig.suptitle(textwrap.fill(title or "attention weights (each row sums to 1)", 70), fontsize=10)
    fig.colorbar(im, ax=axes, label="attention weight (0-1)", shrink=0.8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # missing glyphs were reported once by _use_fonts_for
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
