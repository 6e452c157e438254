"""The masked-LM collator: 15% chosen, split 80/10/10, specials and padding never chosen, redrawn per epoch."""

import pytest
import torch

from seqlab.data.mlm import IGNORE_INDEX, MLMCollator, MLMMaskingConfig

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
V = 1000


def _batch(B=64, T=128):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, V, (B, T), generator=g)
    ids[:, 0] = CLS
    ids[:, -1] = SEP
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[::2, 100:] = False  # half the rows padded at the end
    ids[~mask] = PAD
    return ids, mask


def test_masking_proportions():
    ids, mask = _batch()
    col = MLMCollator(MASK, V, [PAD, UNK, CLS, SEP], seed=0)
    out = col(ids, mask, epoch=0)
    chosen = out["labels"] != IGNORE_INDEX
    ordinary = mask & (ids != CLS) & (ids != SEP)
    frac = chosen.sum().item() / ordinary.sum().item()
    assert abs(frac - 0.15) < 0.01
    n = chosen.sum().item()
    masked = (out["ids"] == MASK) & chosen
    kept = (out["ids"] == ids) & chosen
    replaced = chosen & ~masked & ~kept
    assert abs(masked.sum().item() / n - 0.8) < 0.03
    assert abs(replaced.sum().item() / n - 0.1) < 0.02
    assert abs(kept.sum().item() / n - 0.1) < 0.02  # (a random draw equal to the original counts as kept)
    assert torch.equal(out["labels"][chosen], ids[chosen])


def test_specials_and_padding_never_chosen_and_unchosen_unchanged():
    ids, mask = _batch()
    out = MLMCollator(MASK, V, [PAD, UNK, CLS, SEP], seed=3)(ids, mask)
    chosen = out["labels"] != IGNORE_INDEX
    assert not chosen[~mask].any()
    assert not chosen[(ids == CLS) | (ids == SEP)].any()
    assert torch.equal(out["ids"][~chosen], ids[~chosen])
    assert not ((out["ids"] < 5) & chosen & (out["ids"] != MASK)).any()  # random ids are ordinary tokens


def test_deterministic_per_epoch_and_redrawn_across_epochs():
    ids, mask = _batch()
    col = MLMCollator(MASK, V, [PAD, UNK, CLS, SEP], seed=0)
    a, b, c = col(ids, mask, epoch=1), col(ids, mask, epoch=1), col(ids, mask, epoch=2)
    assert torch.equal(a["ids"], b["ids"]) and torch.equal(a["labels"], b["labels"])
    assert not torch.equal(a["labels"], c["labels"])


@pytest.mark.parametrize("kw", [dict(mask_prob=0.0), dict(mask_prob=1.0), dict(mask_frac=0.95, random_frac=0.1)])
def test_bad_proportions_raise(kw):
    with pytest.raises(ValueError):
        MLMMaskingConfig(**kw)
