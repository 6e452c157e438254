"""Masked-language-model corruption (BERT): choose 15% of the tokens to predict, and hide them.

Of the chosen tokens, 80% are replaced by [MASK], 10% by a random ordinary token and 10% are kept, so the
encoder cannot learn that only [MASK] positions matter. Special tokens ([CLS], [SEP], padding, ...) are
never chosen. The labels are the original ids at the chosen positions and ``ignore_index`` (-100)
elsewhere, ready for ``F.cross_entropy(..., ignore_index=-100)``.

The draw depends only on ``(seed, epoch, batch index)``, so an epoch is reproducible and every epoch
masks the same sentence differently ("redrawn every epoch", RoBERTa's dynamic masking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor

IGNORE_INDEX = -100


@dataclass
class MLMMaskingConfig:
    mask_prob: float = 0.15  # fraction of (non-special) tokens chosen for prediction
    mask_frac: float = 0.8  # of the chosen: replaced by [MASK]
    random_frac: float = 0.1  # of the chosen: replaced by a random ordinary token (the rest are kept)

    def __post_init__(self):
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask_prob must be in (0, 1); got {self.mask_prob}")
        if not (0.0 <= self.mask_frac <= 1.0 and 0.0 <= self.random_frac <= 1.0):
            raise ValueError(f"mask_frac and random_frac must be in [0, 1]; got {self.mask_frac}, {self.random_frac}")
        if self.mask_frac + self.random_frac > 1.0:
            raise ValueError(f"mask_frac + random_frac must be <= 1; got {self.mask_frac + self.random_frac}")


class MLMCollator:
    """Turns (B, T) token ids into a masked-LM batch.

    Args:
        mask_id: id of the [MASK] token.
        vocab_size: size of the vocabulary.
        special_ids: ids never chosen and never used as random replacements (pad, unk, cls, sep, mask...).
        config: the proportions.
        seed: base seed of the draws.
    """

    def __init__(self, mask_id: int, vocab_size: int, special_ids: Iterable[int],
                 config: MLMMaskingConfig | None = None, seed: int = 0):
        self.mask_id = mask_id
        self.config = config or MLMMaskingConfig()
        self.seed = seed
        special = sorted(set(int(i) for i in special_ids) | {mask_id})
        is_special = torch.zeros(vocab_size, dtype=torch.bool)
        is_special[special] = True
        self.is_special = is_special  # (V,)
        self.ordinary = (~is_special).nonzero()[:, 0]  # (V - n_special,) ids usable as random replacements
        if self.ordinary.numel() == 0:
            raise ValueError("the vocabulary has no ordinary (non-special) tokens to mask")

    def generator(self, epoch: int, batch_index: int) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed((self.seed * 1_000_003 + epoch) * 1_000_003 + batch_index)
        return g

    def __call__(self, ids: Tensor, mask: Tensor | None = None, *, epoch: int = 0, batch_index: int = 0,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Mask a batch.

        Args:
            ids: (B, T) int64 token ids (CPU).
            mask: (B, T) bool padding mask, True = real token; None = all real.
            epoch, batch_index: select the deterministic draw (ignored when ``generator`` is given).

        Returns:
            ``{"ids": (B, T) corrupted ids, "labels": (B, T) int64 original id where chosen else -100,
            "mask": (B, T) bool}``.
        """
        g = generator or self.generator(epoch, batch_index)
        cfg = self.config
        candidates = ~self.is_special[ids]  # (B, T)
        if mask is not None:
            candidates &= mask
        chosen = (torch.rand(ids.shape, generator=g) < cfg.mask_prob) & candidates  # (B, T)
        labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
        u = torch.rand(ids.shape, generator=g)  # one draw decides mask / random / keep
        to_mask = chosen & (u < cfg.mask_frac)
        to_random = chosen & (u >= cfg.mask_frac) & (u < cfg.mask_frac + cfg.random_frac)
        random_ids = self.ordinary[torch.randint(len(self.ordinary), ids.shape, generator=g)]  # (B, T)
        out = torch.where(to_mask, torch.full_like(ids, self.mask_id), ids)
        out = torch.where(to_random, random_ids, out)
        if mask is None:
            mask = torch.ones_like(ids, dtype=torch.bool)
        return {"ids": out, "labels": labels, "mask": mask}
