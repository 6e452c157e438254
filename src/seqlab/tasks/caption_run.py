"""A trained captioning run: caption images (greedy or beam), draw attention per word, evaluate.

    run = seqlab.load("runs/scenes")
    run.predict(["photo.png"], beam=3, attention="att.png")   # [{"caption", "score", "n_best"?}]
    run.evaluate("builtin:scenes?split=heldout")               # BLEU, exact match, attribute accuracy, loss

Inputs to ``predict`` are image file paths (PNG/JPEG; ``.npy`` for feature runs) or arrays: uint8
(H, W, 3) images already at the run's size, or float feature vectors.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..data.captions import read_captions
from ..data.images import load_inputs
from ..data.sources import parse_source
from ..errors import UserError
from .caption_io import EncodedCaptions, batches, caption_metrics, decode, teacher_forced_loss
from .loaded import LoadedRun

log = logging.getLogger(__name__)


def attention_overlay(image: np.ndarray, words: list[str], attn: np.ndarray, grid: tuple[int, int], path) -> Path:
    """One panel per generated word: the image with that step's attention (S = grid[0] * grid[1] weights,
    upsampled to the image) laid over it."""
    from .. import plots  # matplotlib is imported only when a plot is asked for

    plt = plots.plt
    n = len(words)
    cols = min(n, 6)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.1 * rows), squeeze=False)
    H, W = image.shape[:2]
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        ax.imshow(image, interpolation="nearest")
        a = attn[k].reshape(grid)
        ax.imshow(a / max(float(a.max()), 1e-12), cmap="magma", alpha=0.55, extent=(-0.5, W - 0.5, H - 0.5, -0.5),
                  interpolation="bilinear", vmin=0, vmax=1)
        ax.set_title(words[k], fontsize=9)
    fig.suptitle("attention per generated word", fontsize=10)
    return plots._save(fig, path)


class LoadedCaption(LoadedRun):
    task = "caption"
    predict_options = {"beam": "beam width (1 = greedy)", "n_best": "also list the N best captions",
                       "attention": "PNG path for the first image's attention, one panel per word"}
    evaluate_options = {"beam": "beam width (1 = greedy)"}

    def __init__(self, run, module, config, meta, comp, tokenizer, device="auto", attention: bool = True):
        super().__init__(run, module, config, device)
        self.meta, self.comp, self.tokenizer = meta, comp, tokenizer
        self.data, self.model_cfg = comp.data, comp.model
        self.has_attention = attention

    def _load(self, inputs) -> tuple[np.ndarray, list[str]]:
        if isinstance(inputs, (str, Path, np.ndarray)):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)) or not inputs:
            raise UserError("expected a non-empty list of image paths (or arrays) to caption")
        if all(isinstance(x, np.ndarray) for x in inputs):
            return np.stack(inputs), [f"input{i}" for i in range(len(inputs))]
        paths = [Path(str(x)) for x in inputs]
        x = load_inputs(paths, self.model_cfg.encoder, self.data.image_size, self.model_cfg.feature_dim or None)
        return x, [p.name for p in paths]

    def read_inputs(self, src: str, id_col: str | None = None, **columns):
        """Images to caption from a captions table (its image column), image files, or builtin:scenes."""
        cs = read_captions(parse_source(src, "--data"), "test", self.comp.train.seed, self.model_cfg.encoder,
                           self.data.image_size, self.model_cfg.feature_dim or None, self.data.image_col,
                           self.data.caption_col, need_captions=False)
        return [cs.inputs[i] for i in range(len(cs))], cs.names

    def predict(self, inputs, beam: int | None = None, n_best: int = 1, attention=None, batch_size: int = 64) -> list[dict]:
        """One ``{"caption", "score"}`` per input (``"n_best"`` too when n_best > 1)."""
        beam = self.data.beam if beam is None else int(beam)
        if beam < 1 or n_best < 1 or n_best > beam:
            raise UserError(f"--beam must be >= 1 and --n-best between 1 and the beam width; found beam {beam}, n_best {n_best}")
        if attention and not self.has_attention:
            raise UserError(f"--attention: model {self.model_name} has no attention (the vec2seq decoder sees only the "
                            "pooled vector); train --model sat or transformer")
        if attention and self.model_cfg.encoder != "cnn":
            raise UserError("--attention draws over the image; this run reads feature vectors, not images")
        x, _ = self._load(inputs)
        hyps = decode(self.module, x, self.tokenizer, self.device, self.data.max_len, beam=beam, n_best=n_best,
                      length_penalty=self.data.length_penalty, return_attn=bool(attention), batch_size=batch_size)
        out = []
        for hs in hyps:
            rec = {"caption": self.tokenizer.decode(hs[0].tokens), "score": round(float(hs[0].score), 4)}
            if n_best > 1:
                rec["n_best"] = [{"caption": self.tokenizer.decode(h.tokens), "score": round(float(h.score), 4)} for h in hs]
            out.append(rec)
        if attention:
            self._draw(x[0], hyps[0][0], attention)
        return out

    def _draw(self, image: np.ndarray, hyp, path) -> None:
        if hyp.attn is None:
            raise UserError("the model returned no attention weights for this caption")
        words = [self.tokenizer.decode([t]) for t in hyp.tokens] + ["<eos>"]
        attn = hyp.attn.float().cpu().numpy()[: len(words)]  # (steps, S)
        k = 2 ** self.model_cfg.blocks  # each conv block halves the resolution (floor, as MaxPool2d)
        grid = (image.shape[0] // k, image.shape[1] // k)
        attention_overlay(image, words[: len(attn)], attn, grid, path)
        log.info("attention plot written to %s", path)

    def evaluate(self, src: str, write: bool = False, beam: int | None = None) -> dict:
        """BLEU, exact match, loss, perplexity (and attribute accuracy on builtin:scenes) on captioned images."""
        beam = self.data.beam if beam is None else int(beam)
        cs = read_captions(parse_source(src, "--data"), "test", self.comp.train.seed, self.model_cfg.encoder,
                           self.data.image_size, self.model_cfg.feature_dim or None, self.data.image_col,
                           self.data.caption_col)
        tok = self.tokenizer
        enc = EncodedCaptions(cs, tok, self.data.max_len)
        metrics = teacher_forced_loss(self.module, batches(enc, 128, tok.pad_id, tok.sos_id, tok.eos_id, shuffle=False),
                                      tok.pad_id, self.device)
        hyps = decode(self.module, cs.inputs, tok, self.device, self.data.max_len, beam=beam,
                      length_penalty=self.data.length_penalty)
        texts = [tok.decode(h[0].tokens) for h in hyps]
        metrics.update(caption_metrics(texts, cs))
        metrics["beam"] = beam
        if write:
            self.run.write_json("test_metrics.json", metrics)
            self.run.write_json("test_captions.json", [{"name": n, "caption": t, "refs": r}
                                                       for n, t, r in zip(cs.names, texts, cs.refs)])
        return metrics

    def format_prediction(self, inp, pred: dict) -> str:
        return pred["caption"]
