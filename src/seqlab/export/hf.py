"""Runs to the Hugging Face layout: ``transformers.AutoModel*.from_pretrained(DIR)`` with no custom code.

    lm run of gpt          -> GPT2LMHeadModel                 (AutoModelForCausalLM)
    seq2seq transformer    -> MarianMTModel                   (AutoModelForSeq2SeqLM), post-LN runs only
    mlm run of bert        -> BertForMaskedLM                 (AutoModelForMaskedLM)
    classify run of bert   -> BertForSequenceClassification   (AutoModelForSequenceClassification), id2label

The folder holds ``config.json``, ``model.safetensors`` and a fast tokenizer (``tokenizer.json``,
``tokenizer_config.json``, ``special_tokens_map.json``) that ``AutoTokenizer`` loads. This is the
reverse of ``seqlab.interop.hf`` (``seqlab import-hf``): GPT-2's Conv1D weights are Linear's transposed,
BERT's query/key/value are the rows of seqlab's stacked ``qkv``. Nothing else changes, so the logits
are seqlab's up to float rounding.

Only models whose math is exactly a Hugging Face architecture are exported:

* GPT: always (pre-LN blocks, learned positions, tanh or erf GELU; a bias-free GPT gets zero biases).
* BERT: post-LN only (``norm=post``, BERT's own); seqlab's pre-LN variant has no BERT equivalent.
* The seq2seq Transformer: to MarianMTModel when it is post-LN with sinusoidal positions
  (``hf_marian``); the pre-LN default and learned positions have no exact equivalent and are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import UserError

def check_exportable(loaded) -> None:
    """UserError naming the model and the reason when a run has no Hugging Face export."""
    task, name = loaded.task, loaded.config.get("model_name")
    if task == "lm" and name == "gpt":
        return
    if (task, name) in (("mlm", "bert"), ("classify", "bert")):
        if loaded.module.config.norm != "post":
            raise UserError(f"{loaded.path}: model bert with norm={loaded.module.config.norm!r} has no Hugging Face "
                            "equivalent (BERT is post-LN); export it with --format onnx instead")
        return
    if task == "seq2seq" and name == "transformer":
        from .hf_marian import check

        check(loaded.module, loaded.path)
        return
    raise UserError(f"{loaded.path}: a {task} run of model {name} has no Hugging Face export (the HF format covers "
                    "lm gpt -> GPT2LMHeadModel, mlm bert -> BertForMaskedLM, classify bert -> "
                    "BertForSequenceClassification and a post-LN seq2seq transformer -> MarianMTModel); "
                    "use --format onnx")


# ---- GPT -> GPT2LMHeadModel -------------------------------------------------------------------------------
def gpt_config(cfg, tok) -> dict:
    act = {"gelu_tanh": "gelu_new", "gelu": "gelu"}[cfg.activation]
    attn = cfg.dropout if cfg.attn_dropout is None else cfg.attn_dropout
    out = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": cfg.vocab_size,
           "n_positions": cfg.block_size, "n_ctx": cfg.block_size, "n_embd": cfg.n_embd, "n_layer": cfg.n_layer,
           "n_head": cfg.n_head, "n_inner": cfg.n_inner, "activation_function": act, "resid_pdrop": cfg.dropout,
           "embd_pdrop": cfg.dropout, "attn_pdrop": attn, "layer_norm_epsilon": cfg.layer_norm_eps,
           "initializer_range": 0.02, "scale_attn_weights": True, "use_cache": True,
           "tie_word_embeddings": cfg.tie_weights, "torch_dtype": "float32"}
    if tok is not None:
        out.update({"bos_token_id": tok.sos_id, "eos_token_id": tok.eos_id, "pad_token_id": tok.pad_id})
    return out


def gpt_state(model) -> dict[str, torch.Tensor]:
    """seqlab GPT names -> GPT2LMHeadModel names; Linear weights (out, in) -> Conv1D (in, out)."""
    cfg = model.config
    out = {}
    for k, v in model.state_dict().items():
        if k == "lm_head.weight":
            if not cfg.tie_weights:
                out[k] = v
            continue
        if k.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            v = v.t()
        out["transformer." + k] = v
    if not cfg.bias:  # GPT-2 always has biases: zeros give the same function
        C, inner = cfg.n_embd, cfg.n_inner or 4 * cfg.n_embd
        for i in range(cfg.n_layer):
            p = f"transformer.h.{i}."
            for name, n in (("ln_1", C), ("ln_2", C), ("attn.c_attn", 3 * C), ("attn.c_proj", C), ("mlp.c_fc", inner),
                            ("mlp.c_proj", C)):
                out[p + name + ".bias"] = torch.zeros(n)
        out["transformer.ln_f.bias"] = torch.zeros(C)
    return {k: v.detach().float().contiguous().clone() for k, v in out.items()}


# ---- BERT -> BertForMaskedLM / BertForSequenceClassification ----------------------------------------------
def bert_config(cfg, tok, arch: str) -> dict:
    act = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh"}[cfg.activation]
    out = {"architectures": [arch], "model_type": "bert", "vocab_size": cfg.vocab_size, "hidden_size": cfg.d_model,
           "num_hidden_layers": cfg.n_layer, "num_attention_heads": cfg.n_head, "intermediate_size": cfg.d_ff,
           "hidden_act": act, "hidden_dropout_prob": cfg.dropout, "attention_probs_dropout_prob": cfg.attn_dropout,
           "max_position_embeddings": cfg.max_position, "type_vocab_size": cfg.type_vocab_size,
           "layer_norm_eps": cfg.layer_norm_eps, "initializer_range": 0.02, "position_embedding_type": "absolute",
           "tie_word_embeddings": True, "torch_dtype": "float32"}
    if tok is not None:
        out["pad_token_id"] = tok.pad_id
    return out


def bert_encoder_state(sd: dict[str, torch.Tensor], n_layer: int) -> dict[str, torch.Tensor]:
    """seqlab ``bert.*`` names -> HF ``bert.*`` names; the stacked qkv split into query, key, value."""
    out = {
        "bert.embeddings.word_embeddings.weight": sd["bert.embeddings.tok.weight"],
        "bert.embeddings.position_embeddings.weight": sd["bert.embeddings.pos.weight"],
        "bert.embeddings.token_type_embeddings.weight": sd["bert.embeddings.seg.weight"],
        "bert.embeddings.LayerNorm.weight": sd["bert.embeddings.norm.weight"],
        "bert.embeddings.LayerNorm.bias": sd["bert.embeddings.norm.bias"],
    }
    for i in range(n_layer):
        q, p = f"bert.layers.{i}.", f"bert.encoder.layer.{i}."
        for part in ("weight", "bias"):
            for name, chunk in zip(("query", "key", "value"), sd[q + "qkv." + part].chunk(3, dim=0)):
                out[p + f"attention.self.{name}.{part}"] = chunk
            out[p + f"attention.output.dense.{part}"] = sd[q + "proj." + part]
            out[p + f"attention.output.LayerNorm.{part}"] = sd[q + "norm1." + part]
            out[p + f"intermediate.dense.{part}"] = sd[q + "ff1." + part]
            out[p + f"output.dense.{part}"] = sd[q + "ff2." + part]
            out[p + f"output.LayerNorm.{part}"] = sd[q + "norm2." + part]
    return out


def bert_mlm_state(model) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    out = bert_encoder_state(sd, model.config.n_layer)
    out.update({"cls.predictions.transform.dense.weight": sd["mlm.transform.weight"],
                "cls.predictions.transform.dense.bias": sd["mlm.transform.bias"],
                "cls.predictions.transform.LayerNorm.weight": sd["mlm.norm.weight"],
                "cls.predictions.transform.LayerNorm.bias": sd["mlm.norm.bias"],
                "cls.predictions.bias": sd["mlm.decoder.bias"]})  # the decoder matrix is the tied embedding
    return {k: v.detach().float().contiguous().clone() for k, v in out.items()}


def bert_classifier_state(model) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    out = bert_encoder_state(sd, model.config.n_layer)
    out.update({"bert.pooler.dense.weight": sd["pooler.weight"], "bert.pooler.dense.bias": sd["pooler.bias"],
                "classifier.weight": sd["classifier.weight"], "classifier.bias": sd["classifier.bias"]})
    return {k: v.detach().float().contiguous().clone() for k, v in out.items()}


# ---- the folder -------------------------------------------------------------------------------------------
def export(loaded, out: Path) -> dict:
    """Write config.json, model.safetensors and the tokenizer files; returns a summary."""
    from safetensors.torch import save_file

    from .hf_tokenizer import write_tokenizer

    model = loaded.module.cpu().float().eval()
    task = loaded.task
    tok = loaded.tokenizer if task != "seq2seq" else loaded.src_tok
    template = None
    if task == "seq2seq":
        from .hf_marian import marian_config, marian_state

        arch = "MarianMTModel"
        config = marian_config(model.cfg, loaded.tgt_tok.sos_id, loaded.tgt_tok.eos_id)
        state = marian_state(model)
        max_len = model.cfg.max_len
        (out / "target_tokenizer").mkdir()
        write_tokenizer(loaded.tgt_tok, out / "target_tokenizer", max_len)
    elif task == "lm":
        config, state, arch = gpt_config(model.config, tok), gpt_state(model), "GPT2LMHeadModel"
        max_len = model.config.block_size
    elif task == "mlm":
        arch = "BertForMaskedLM"
        config, state = bert_config(model.config, tok, arch), bert_mlm_state(model)
        max_len = model.config.max_position
        if tok is not None:  # fill_mask frames every text as [CLS] text [SEP(eos)]
            template = (tok.cls_id, tok.eos_id)
    else:
        arch = "BertForSequenceClassification"
        config, state = bert_config(model.config, tok, arch), bert_classifier_state(model)
        config["id2label"] = {str(i): lab for i, lab in enumerate(loaded.labels)}
        config["label2id"] = {lab: i for i, lab in enumerate(loaded.labels)}
        config["num_labels"] = len(loaded.labels)
        config["problem_type"] = "single_label_classification"
        max_len = model.config.max_position
        if model.cls_id is not None:  # the classifier frames inputs itself: the tokenizer does it for HF
            template = (model.cls_id, model.sep_id)
    (out / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    if tok is not None:
        write_tokenizer(tok, out, max_len, template)
    from .. import __version__

    manifest = {"format": "hf", "seqlab_version": __version__, "task": task, "model_name": loaded.config.get("model_name"),
                "architecture": arch, "run": str(Path(loaded.path).resolve()), "config": loaded.config}
    (out / "seqlab_export.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
