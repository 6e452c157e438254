"""Image captioning (task ``caption``): vec2seq, the notes' "Man is playing piano" (image -> sentence).

Input: ``builtin:scenes`` (generated shapes and their captions; ``?split=heldout`` has colour-shape pairs
never seen in training) or a table (CSV/TSV/JSONL) with an image column and a caption column, paths
relative to the table (PNG/JPEG files, resized to ``data.image_size``; or ``.npy`` feature vectors with
``--set model.encoder=features``). An image may have several reference captions.

Models (:mod:`seqlab.models.caption`): ``sat`` (CNN feature map + GRU decoder with Bahdanau attention,
Show-Attend-Tell), ``vec2seq`` (the pooled vector only sets the decoder's first state: no attention, the
notes' diagram) and ``transformer`` (a Transformer decoder over the feature map). Training minimises
token cross-entropy under teacher forcing; validation decodes greedily and keeps the best BLEU.
``evaluate``: BLEU, exact match, loss and, on builtin:scenes, attribute accuracy (size, colour, shape,
relation). ``seqlab caption RUN image.png --attention att.png`` draws where the model looked for each word.

Model registry sizes: ``build(cfg)``, with ``vocab``, ``pad_id`` (and ``feature_dim``) filled into the config.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from ..data.batching import EpochCache
from ..data.captions import read_captions
from ..data.sources import parse_source
from ..data.tokenizers import KINDS, load_tokenizer, make_tokenizer
from ..device import pick_device
from ..errors import UserError
from ..models.caption import PRESETS, CaptionConfig, build_caption
from ..train.engine import TrainConfig
from .caption_io import EncodedCaptions, batches, caption_loss, caption_metrics, decode, teacher_forced_loss
from .protocol import ModelSpec, Prepared, TaskBase

log = logging.getLogger(__name__)

MODELS = {
    "sat": ModelSpec(CaptionConfig, build_caption, presets=PRESETS["sat"], capabilities=frozenset({"attention"}),
                     description="Show, Attend and Tell: CNN feature map, GRU decoder, Bahdanau attention"),
    "vec2seq": ModelSpec(CaptionConfig, build_caption, presets=PRESETS["vec2seq"],
                         description="the pooled image vector as the GRU decoder's initial state (no attention)"),
    "transformer": ModelSpec(CaptionConfig, build_caption, presets=PRESETS["transformer"],
                             capabilities=frozenset({"attention"}),
                             description="Transformer decoder cross-attending over the CNN feature map"),
}


@dataclass
class CaptionData:
    image_col: str | None = None  # image column of a captions table (auto: image, file, path, filename)
    caption_col: str | None = None  # caption column (auto: caption, text, sentence, description)
    tokenizer: str = "word"  # word | char | bpe | wordpiece | morpheme, for the captions
    lowercase: bool = True  # word tokenizer: fold case
    vocab_size: int = 10000  # largest caption vocabulary
    min_freq: int = 1  # rarer caption words become <unk>
    image_size: int = 32  # images are resized to image_size x image_size (builtin:scenes renders at this size)
    max_len: int = 40  # longest caption in tokens: longer training captions are truncated (counted); decoding limit
    valid_fraction: float = 0.1  # images held out when no --valid is given (a file source)
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    beam: int = 3  # beam width of evaluate/predict (1 = greedy); validation during training is greedy
    length_penalty: float = 0.6  # GNMT length penalty for beam search
    valid_max: int = 500  # validation images decoded for BLEU at each evaluation (the loss uses all)

    def __post_init__(self):
        if self.tokenizer not in KINDS:
            raise ValueError(f"tokenizer must be one of {', '.join(KINDS)}; found {self.tokenizer!r}")
        if min(self.image_size, self.max_len, self.beam, self.valid_max) < 1 or self.vocab_size < 8:
            raise ValueError("image_size, max_len, beam and valid_max must be >= 1; vocab_size >= 8")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8; found {self.image_size}")
        if not 0 < self.valid_fraction < 0.9 or not 0 <= self.label_smoothing < 1:
            raise ValueError("valid_fraction must be in (0, 0.9), label_smoothing in [0, 1)")


def _split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    k = max(1, int(round(n * fraction)))
    return sorted(perm[k:]), sorted(perm[:k])


class CaptionTask(TaskBase):
    name = "caption"
    default_model = "sat"  # Show-Attend-Tell, the notes' attention captioner (RESULTS #17)
    data_config = CaptionData
    models = MODELS

    def default_train(self, model_name: str) -> TrainConfig:
        return TrainConfig(epochs=30, batch_size=64, lr=2e-3, warmup=0.02, patience=5, metric="bleu", mode="max")

    def _read(self, src_text: str, flag: str, comp, role: str, need: bool = True):
        m, d = comp.model, comp.data
        return read_captions(parse_source(src_text, flag), role, comp.train.seed, m.encoder, d.image_size,
                             m.feature_dim or None, d.image_col, d.caption_col, need)

    def prepare(self, comp, req, run) -> Prepared:
        data, tcfg, seed = comp.data, comp.train, comp.train.seed
        train_src = parse_source(req.data, "--data")
        train_set = self._read(req.data, "--data", comp, "train")
        if comp.model.encoder == "features" and not comp.model.feature_dim:
            comp.model = dataclasses.replace(comp.model, feature_dim=int(train_set.inputs.shape[-1]))
        if req.valid:
            valid_set = self._read(req.valid, "--valid", comp, "valid")
        elif train_src.kind == "builtin" and "split" not in train_src.params:
            valid_set = self._read(req.data, "--data", comp, "valid")
        else:
            tr, va = _split(len(train_set), data.valid_fraction, seed)
            valid_set = train_set.subset(va, train_set.origin + " (held out)")
            train_set = train_set.subset(tr)
            log.info("no --valid given: held out %d of %d images", len(va), len(tr) + len(va))
        if len(train_set) < 2:
            raise UserError(f"{train_set.origin}: {len(train_set)} training image(s); captioning needs more data")
        test_text = req.test or (req.data if train_src.kind == "builtin" and "split" not in train_src.params else None)

        if run is not None and run.file("tokenizer.json").is_file():
            tok = load_tokenizer(run.file("tokenizer.json"))
        else:
            tok = make_tokenizer(data.tokenizer, lowercase=data.lowercase) if data.tokenizer == "word" else make_tokenizer(data.tokenizer)
            tok.fit([c for refs in train_set.refs for c in refs], vocab_size=data.vocab_size, min_freq=data.min_freq)
        pad_id, sos, eos = tok.pad_id, tok.sos_id, tok.eos_id
        train_enc = EncodedCaptions(train_set, tok, data.max_len)
        valid_enc = EncodedCaptions(valid_set, tok, data.max_len)
        if comp.model.decoder == "transformer" and data.max_len + 2 > comp.model.max_len:
            raise UserError(f"data.max_len={data.max_len} needs model.max_len >= {data.max_len + 2} positions")
        comp.model = dataclasses.replace(comp.model, vocab=tok.vocab_size, pad_id=pad_id)
        model_cfg = comp.model
        meta = {"tokenizer": data.tokenizer, "vocab": tok.vocab_size, "n_train_images": len(train_set),
                "n_train_captions": len(train_enc), "n_valid_images": len(valid_set), "truncated": train_enc.truncated,
                "input_shape": list(train_set.inputs.shape[1:])}
        bs = tcfg.batch_size

        def train_batches(epoch):
            return batches(train_enc, bs, pad_id, sos, eos, seed, epoch)

        def loss_fn(m, batch):
            return caption_loss(m, batch, data.label_smoothing, pad_id)

        valid_batches = batches(valid_enc, 128, pad_id, sos, eos, shuffle=False)
        device = pick_device(tcfg.device)
        vsub = valid_set.subset(list(range(min(len(valid_set), data.valid_max))))

        def eval_fn(m):
            metrics = teacher_forced_loss(m, valid_batches, pad_id, device)
            hyps = decode(m, vsub.inputs, tok, device, data.max_len, beam=1)
            metrics.update(caption_metrics([tok.decode(h[0].tokens) for h in hyps], vsub))
            return metrics

        return Prepared(lambda: build_caption(model_cfg), loss_fn, eval_fn, EpochCache(train_batches), meta,
                        {"tokenizer.json": tok}, test_source=test_text,
                        summary_extra={"truncated": train_enc.truncated})

    def load_run(self, run, device: str = "auto"):
        from .base import restore_composed
        from .caption_run import LoadedCaption
        from .loader import build_and_load, model_spec

        cfg = run.read_json("config.json")
        spec = model_spec(self, run, cfg)
        comp = restore_composed(run, spec.config_cls, CaptionData)
        module = build_and_load(run, spec, comp.model)
        tok = load_tokenizer(run.file("tokenizer.json"))
        return LoadedCaption(run, module, cfg, run.read_json("meta.json"), comp, tok, device,
                             attention=spec.has("attention"))


TASK = CaptionTask()
