"""Adversarial training on word vectors (train/adversarial.py): the perturbation's size and direction, the loss
equal to a hand computation of L(e) + L(e + r_adv), gradients through both terms, and the classify CLI option."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.train.adversarial import adversarial_loss_fn, perturbation, word_table

ONE_THREAD = True


class Toy(nn.Module):
    """ids (B, T) -> mean of the word vectors over real positions -> logits (B, 3)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(20, 6, padding_idx=0)
        self.out = nn.Linear(6, 3)

    def forward(self, ids, mask):
        e = self.emb(ids)  # (B, T, E)
        m = mask.unsqueeze(-1).float()
        return self.out(torch.tanh((e * m).sum(1) / m.sum(1)))


def _loss(model, batch):
    return F.cross_entropy(model(batch["ids"], batch["mask"]), batch["y"]), int(batch["mask"].sum())


def _batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 20, (4, 5), generator=g)
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[1, 3:] = False
    ids[~mask] = 0
    return {"ids": ids, "mask": mask, "y": torch.tensor([0, 1, 2, 1])}


def test_perturbation_size_and_direction():
    e = torch.randn(3, 4, 5)
    g = torch.randn(3, 4, 5)
    g[2] = 0
    r = perturbation(e, g, 0.1)
    for b in range(2):
        assert torch.allclose(r[b].norm(), 0.1 * e[b].norm(), rtol=1e-5)
        cos = F.cosine_similarity(r[b].flatten(), g[b].flatten(), dim=0)
        assert cos > 0.99999
    assert torch.equal(r[2], torch.zeros(4, 5))  # no gradient, no perturbation


def test_loss_equals_hand_computation_and_trains_both_terms():
    model, batch, eps = Toy(), _batch(), 0.2
    model.train()
    loss, tokens = adversarial_loss_fn(_loss, eps)(model, batch)
    assert tokens == int(batch["mask"].sum())

    ref = Toy()  # same seed, same weights
    e = ref.emb(batch["ids"]).detach().requires_grad_(True)
    m = batch["mask"].unsqueeze(-1).float()

    clean = _head(ref, e, m, batch["y"])
    (g,) = torch.autograd.grad(clean, e)
    r = torch.stack([eps * e[b].norm() * g[b] / g[b].norm() for b in range(4)]).detach()
    adv = _head(ref, e + r, m, batch["y"])
    assert adv > clean  # r is the steepest ascent of the loss (first order), so the loss grows
    assert torch.allclose(loss, clean + adv, atol=1e-6)

    loss.backward()  # both terms reach the weights; the perturbation itself is a constant
    full = Toy()
    emb = full.emb(batch["ids"])
    (_head(full, emb, m, batch["y"]) + _head(full, emb + r, m, batch["y"])).backward()
    assert torch.allclose(model.out.weight.grad, full.out.weight.grad, atol=1e-6)
    assert torch.allclose(model.emb.weight.grad, full.emb.weight.grad, atol=1e-6)


def _head(model, x, m, y):
    """Toy's forward from its word vectors x (B, T, E)."""
    return F.cross_entropy(model.out(torch.tanh((x * m).sum(1) / m.sum(1))), y)


def test_eval_mode_is_the_clean_loss_and_frozen_vectors_work():
    model, batch = Toy(), _batch()
    wrapped = adversarial_loss_fn(_loss, 0.1)
    model.eval()
    assert torch.equal(wrapped(model, batch)[0], _loss(model, batch)[0])
    model.train()
    model.emb.weight.requires_grad_(False)  # static vectors: dL/de is still defined
    loss, _ = wrapped(model, batch)
    loss.backward()
    assert model.emb.weight.grad is None and model.out.weight.grad is not None
    assert loss > _loss(model, batch)[0]


def test_refusals():
    with pytest.raises(ValueError, match="eps must be > 0"):
        adversarial_loss_fn(_loss, 0.0)
    from seqlab.errors import UserError

    with pytest.raises(UserError, match="no embedding table"):
        word_table(nn.Linear(3, 3))


def test_classify_cli(cli, tmp_path):
    out = tmp_path / "adv"
    code, _, err = cli("-q", "train", "classify", "--data", "builtin:longrange?distance=5&n=300", "--model", "gru",
                       "--epochs", "2", "--set", "model.hidden=16", "--set", "model.embed_dim=16",
                       "--set", "data.adversarial=0.05", "--out", out)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["data"]["adversarial"] == 0.05
    code, stdout, err = cli("train", "classify", "--data", "builtin:longrange", "--set", "data.adversarial=2",
                            "--out", tmp_path / "bad")
    assert code == 2 and "adversarial is a relative perturbation size in [0, 1)" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "textcnn", "transformer", "bert"])
def test_the_perturbed_table_is_each_classifiers_word_table(name):
    """The first nn.Embedding of every registered classifier is the one indexed by token ids (not positions)."""
    from seqlab.tasks.classify import MODELS

    spec = MODELS[name]
    cfg = spec.default_config()
    for key, value in {"embed_dim": 16, "hidden": 8, "n_maps": 4, "d_ff": 32, "d_model": 16, "n_head": 2,
                       "n_layer": 1}.items():
        if hasattr(cfg, key):
            setattr(cfg, key, value)
    vocab = 97  # neither a position count nor a segment count
    model = spec.build(cfg, vocab_size=vocab, n_classes=2, pad_id=0)
    table = word_table(model)
    assert table.num_embeddings == vocab
    seen = []
    hook = table.register_forward_hook(lambda m, i, out: seen.append(i[0]))
    ids = torch.randint(1, vocab, (2, 7))
    model(ids, torch.ones(2, 7, dtype=torch.bool))
    hook.remove()
    assert len(seen) == 1 and ids.shape[0] == seen[0].shape[0] and torch.isin(ids, seen[0]).all()
