"""BERT for sequence classification: the encoder of :mod:`seqlab.models.bert` with a classifier on [CLS].

The config is BertConfig plus the ids of the [CLS] and [SEP] tokens the classifier puts around every
input (seqlab's own tokenizers: <cls> = 5, <eos> = 3; a pre-trained run's tokenizer sets them).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .bert import BertClassifier, BertConfig

# Learning rate of a BERT classifier or regressor when none is given: the value of seqlab's measured BERT runs
# (RESULTS.md #4, pre-trained and from scratch). The recurrent classifiers' default, 2e-3, collapses a
# pre-trained BERT to predicting one class (RESULTS.md #18, seventeenth session).
FINETUNE_LR = 1e-4


@dataclass
class BertClassifyConfig(BertConfig):
    cls_id: int = 5  # [CLS] id put before every input (seqlab's tokenizers: <cls> = 5; set from --init's tokenizer)
    sep_id: int = 3  # [SEP] id put after every input (seqlab's tokenizers: <eos> = 3; set from --init's tokenizer)


def build_bert_classifier(cfg: BertClassifyConfig, vocab_size: int, n_classes: int, pad_id: int) -> BertClassifier:
    fields = {f.name for f in dataclasses.fields(BertConfig)}
    base = BertConfig(**{k: v for k, v in dataclasses.asdict(cfg).items() if k in fields})
    return BertClassifier(dataclasses.replace(base, vocab_size=vocab_size), n_classes, cls_id=cfg.cls_id,
                          sep_id=cfg.sep_id)
