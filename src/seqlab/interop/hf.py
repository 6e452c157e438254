"""Import a local Hugging Face checkpoint (GPT-2 or BERT) into seqlab's own modules.

A checkpoint directory holds ``config.json`` and ``model.safetensors`` (``pytorch_model.bin`` is read too),
and maybe ``tokenizer.json``. Supported architectures:

* ``GPT2LMHeadModel`` / ``GPT2Model``  -> :class:`seqlab.models.gpt.GPT`
* ``BertForMaskedLM`` / ``BertModel`` / ``BertForPreTraining`` -> :class:`seqlab.models.bert.BertForMaskedLM`

The weights are renamed, GPT-2's Conv1D matrices (stored (in, out)) are transposed to Linear's (out, in),
and BERT's separate query/key/value matrices are stacked into one. Nothing else changes, so the logits
equal Hugging Face's up to float rounding. Transformers itself is not needed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import Tensor

from ..errors import UserError
from ..models.bert import BertConfig, BertForMaskedLM
from ..models.gpt import GPT, GPTConfig

logger = logging.getLogger(__name__)

SUPPORTED = {
    "GPT2LMHeadModel": "gpt",
    "GPT2Model": "gpt",
    "BertForMaskedLM": "bert",
    "BertModel": "bert",
    "BertForPreTraining": "bert",
}
_MODEL_TYPES = {"gpt2": "gpt", "bert": "bert"}


def _unsupported(found: str) -> UserError:
    return UserError(f"expected a Hugging Face checkpoint of {', '.join(SUPPORTED)}; found {found} "
                     "(only GPT-2 and BERT checkpoints can be imported)")


def read_checkpoint(path) -> tuple[str, dict, dict[str, Tensor]]:
    """Read a checkpoint directory -> (kind "gpt" | "bert", HF config dict, state dict)."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"expected a Hugging Face checkpoint directory with config.json; found no directory {path}")
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"expected {cfg_path}; it does not exist (is {path} a Hugging Face checkpoint directory?)")
    try:
        hf_cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"expected JSON in {cfg_path}; found a parse error: {err}") from err
    kind = architecture_kind(hf_cfg)
    st, binf = path / "model.safetensors", path / "pytorch_model.bin"
    if st.is_file():
        from safetensors.torch import load_file

        state = load_file(str(st))
    elif binf.is_file():
        state = torch.load(binf, map_location="cpu", weights_only=True)
    else:
        raise UserError(f"expected model.safetensors (or pytorch_model.bin) in {path}; found neither")
    return kind, hf_cfg, state


def architecture_kind(hf_cfg: dict) -> str:
    archs = hf_cfg.get("architectures") or []
    for arch in archs:
        if arch in SUPPORTED:
            return SUPPORTED[arch]
    if archs:
        raise _unsupported(", ".join(archs))
    model_type = hf_cfg.get("model_type")
    if model_type in _MODEL_TYPES:
        return _MODEL_TYPES[model_type]
    raise _unsupported(f"model_type {model_type!r}")


# ---- GPT-2 ------------------------------------------------------------------------------------------------

_GELU = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu_fast": "gelu_tanh", "gelu": "gelu"}


def gpt_config_from_hf(c: dict) -> GPTConfig:
    act = c.get("activation_function", "gelu_new")
    if act not in _GELU:
        raise UserError(f"expected a GPT-2 activation_function in {sorted(_GELU)}; found {act!r}")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if c.get(flag):
            logger.warning("GPT-2 config sets %s; seqlab ignores it, logits may differ", flag)
    if c.get("scale_attn_weights", True) is False:
        raise UserError("expected scale_attn_weights = true in the GPT-2 config; found false (not supported)")
    return GPTConfig(
        vocab_size=c["vocab_size"],
        block_size=c.get("n_positions", c.get("n_ctx", 1024)),
        n_layer=c["n_layer"],
        n_head=c["n_head"],
        n_embd=c["n_embd"],
        n_inner=c.get("n_inner"),
        dropout=c.get("resid_pdrop", 0.1),
        attn_dropout=c.get("attn_pdrop", 0.1),
        bias=True,
        activation=_GELU[act],
        layer_norm_eps=c.get("layer_norm_epsilon", 1e-5),
        tie_weights=c.get("tie_word_embeddings", True),
    )


def gpt_state_from_hf(sd: dict[str, Tensor], config: GPTConfig) -> dict[str, Tensor]:
    """HF GPT-2 names -> seqlab GPT names; Conv1D weights (in, out) transposed to (out, in)."""
    sd = {k.removeprefix("transformer."): v for k, v in sd.items()}
    out = {}
    for k, v in sd.items():
        if k.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # old checkpoints saved the causal-mask buffers
        if any(k.endswith(s) for s in ("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            v = v.t()
        out[k] = v.contiguous()
    if "lm_head.weight" not in out:
        out["lm_head.weight"] = out["wte.weight"]
    return out


# ---- BERT -------------------------------------------------------------------------------------------------


def bert_config_from_hf(c: dict) -> BertConfig:
    act = c.get("hidden_act", "gelu")
    acts = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
    if act not in acts:
        raise UserError(f"expected a BERT hidden_act in {sorted(acts)}; found {act!r}")
    pet = c.get("position_embedding_type", "absolute")
    if pet != "absolute":
        raise UserError(f"expected position_embedding_type 'absolute'; found {pet!r} (not supported)")
    return BertConfig(
        vocab_size=c["vocab_size"],
        max_position=c.get("max_position_embeddings", 512),
        type_vocab_size=c.get("type_vocab_size", 2),
        n_layer=c["num_hidden_layers"],
        n_head=c["num_attention_heads"],
        d_model=c["hidden_size"],
        d_ff=c["intermediate_size"],
        dropout=c.get("hidden_dropout_prob", 0.1),
        attn_dropout=c.get("attention_probs_dropout_prob", 0.1),
        norm="post",
        activation=acts[act],
        layer_norm_eps=c.get("layer_norm_eps", 1e-12),
    )


def bert_state_from_hf(sd: dict[str, Tensor], config: BertConfig) -> dict[str, Tensor]:
    """HF BERT names -> seqlab BertForMaskedLM names; q, k, v stacked into one matrix.

    A BertModel checkpoint has no MLM head: the head keeps a fresh initialisation (logged)."""
    sd = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
          for k, v in sd.items()}
    if not any(k.startswith("bert.") for k in sd):
        sd = {("bert." + k if not k.startswith("cls.") else k): v for k, v in sd.items()}
    out = {
        "bert.embeddings.tok.weight": sd["bert.embeddings.word_embeddings.weight"],
        "bert.embeddings.pos.weight": sd["bert.embeddings.position_embeddings.weight"],
        "bert.embeddings.seg.weight": sd["bert.embeddings.token_type_embeddings.weight"],
        "bert.embeddings.norm.weight": sd["bert.embeddings.LayerNorm.weight"],
        "bert.embeddings.norm.bias": sd["bert.embeddings.LayerNorm.bias"],
    }
    for i in range(config.n_layer):
        p, q = f"bert.encoder.layer.{i}.", f"bert.layers.{i}."
        for part in ("weight", "bias"):
            out[q + "qkv." + part] = torch.cat([sd[p + f"attention.self.{n}.{part}"] for n in ("query", "key", "value")])
            out[q + "proj." + part] = sd[p + f"attention.output.dense.{part}"]
            out[q + "norm1." + part] = sd[p + f"attention.output.LayerNorm.{part}"]
            out[q + "ff1." + part] = sd[p + f"intermediate.dense.{part}"]
            out[q + "ff2." + part] = sd[p + f"output.dense.{part}"]
            out[q + "norm2." + part] = sd[p + f"output.LayerNorm.{part}"]
    head = {
        "mlm.transform.weight": "cls.predictions.transform.dense.weight",
        "mlm.transform.bias": "cls.predictions.transform.dense.bias",
        "mlm.norm.weight": "cls.predictions.transform.LayerNorm.weight",
        "mlm.norm.bias": "cls.predictions.transform.LayerNorm.bias",
        "mlm.decoder.bias": "cls.predictions.bias",
    }
    if all(v in sd for v in head.values()):
        out.update({k: sd[v] for k, v in head.items()})
    else:
        logger.warning("the checkpoint has no masked-LM head (a BertModel?); the MLM head is freshly initialised")
    out["mlm.decoder.weight"] = out["bert.embeddings.tok.weight"]
    return {k: v.contiguous() for k, v in out.items()}


def load_model(path) -> tuple[str, torch.nn.Module, dict]:
    """Read a checkpoint directory into a seqlab model (eval mode) -> (kind, model, HF config dict)."""
    kind, hf_cfg, sd = read_checkpoint(path)
    if kind == "gpt":
        config = gpt_config_from_hf(hf_cfg)
        model = GPT(config)
        state = gpt_state_from_hf(sd, config)
    else:
        config = bert_config_from_hf(hf_cfg)
        model = BertForMaskedLM(config)
        state = bert_state_from_hf(sd, config)
    if kind == "bert" and not any(k.startswith("mlm.transform") for k in state):
        own = model.state_dict()
        state = {**{k: v for k, v in own.items() if k.startswith("mlm.")}, **state}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UserError(f"expected the weights of a {kind} checkpoint in {path}; missing {missing[:5]}, "
                        f"unexpected {unexpected[:5]} (is the config.json from the same model?)")
    return kind, model.eval(), hf_cfg


def from_hf(path, out=None, overwrite: bool = False):
    """Import a checkpoint directory as a seqlab run and load it.

    GPT-2 becomes an ``lm`` run (``model_name`` gpt), BERT an ``mlm`` run (``model_name`` bert); the
    checkpoint's ``tokenizer.json`` is imported when present. With ``out`` the run directory is written
    there (config.json, meta.json, tokenizer.json, model.safetensors) and can be used like a trained run
    (``seqlab generate``, ``classify --init``); without it the run lives in memory only.
    """
    from ..run import RunDir
    from ..tasks import get_task
    from ..tasks.base import Composed

    path = Path(path)
    kind, model, hf_cfg = load_model(path)
    tok = None
    if (path / "tokenizer.json").is_file():
        from ..data.tokenizers import from_hf_file

        tok = from_hf_file(path / "tokenizer.json")
    else:
        logger.warning("%s has no tokenizer.json: the imported run reads and writes token ids only", path)
    task = get_task("lm" if kind == "gpt" else "mlm")
    if kind == "gpt":
        data = task.data_config(tokenizer="hf", block_size=model.config.block_size)
    else:
        data = task.data_config(tokenizer="hf", max_len=model.config.max_position)
    comp = Composed(kind, model.config, data, task.default_train(kind))
    config = comp.to_json(task.name, {"imported_from": str(path.resolve()), "hf_architectures": hf_cfg.get("architectures")})
    if out is None:
        if kind == "gpt":
            from ..tasks.lm_run import LoadedLM

            return LoadedLM(RunDir(path), model, config, tok, comp=comp)
        from ..tasks.mlm_run import LoadedMLM

        return LoadedMLM(RunDir(path), model, config, tok, comp=comp)
    run = RunDir.create(out, overwrite=overwrite)
    run.write_json("config.json", config)
    run.write_json("meta.json", {"imported_from": str(path.resolve()), "tokenizer": "hf" if tok else None})
    if tok is not None:
        tok.save(run.file("tokenizer.json"))
    run.save_weights("model.safetensors", model.state_dict())
    from ..tasks import load

    return load(run.path)
