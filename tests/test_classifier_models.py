"""The composed classifiers: shapes, padding has no effect, numeric inputs, configs, pooling heads."""

import dataclasses

import pytest
import torch

from seqlab.models.classifier import CLASSIFIERS, RecurrentClassifierConfig, TextCNNClassifierConfig
from seqlab.models.heads import POOLS, AttentionPool, ClassifierHead, pool_last, pool_max, pool_mean

SMALL = {"embed_dim": 16}
VARIANTS = [(name, {}) for name in CLASSIFIERS] + [
    ("lstm", {"pool": pool}) for pool in POOLS if pool != "max"] + [
    ("gru", {"bidirectional": False, "layers": 2, "pool": "last"}),
    ("lstm", {"impl": "reference", "layers": 2}),
    ("transformer", {"pool": "cls", "positions": "learned", "norm_first": False}),
    ("transformer", {"pool": "attention"}),
]


def _model(name, overrides, vocab=40, n_classes=3, **extra):
    cfg_cls, build = CLASSIFIERS[name]
    cfg = cfg_cls(**{**SMALL, **overrides, **extra})
    torch.manual_seed(0)
    return build(cfg, vocab, n_classes, 0).eval()


@pytest.mark.parametrize("name,overrides", VARIANTS)
def test_shapes_and_padding_invariance(name, overrides):
    model = _model(name, overrides)
    lengths = torch.tensor([9, 4, 1, 6])
    mask = torch.arange(9)[None, :] < lengths[:, None]  # (B, T) True = real
    ids = torch.randint(5, 40, (4, 9)).masked_fill(~mask, 0)
    logits = model(ids, mask)
    assert logits.shape == (4, 3) and logits.dtype == torch.float32
    other = ids.masked_fill(~mask, 17)  # different ids at padded positions
    torch.testing.assert_close(model(other, mask), logits)
    # a row alone, without padding, gives the same logits as inside the padded batch
    torch.testing.assert_close(model(ids[1:2, :4], mask[1:2, :4]), logits[1:2], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_numeric_inputs(name):
    model = _model(name, {}, input_dim=5)
    mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    x = torch.randn(2, 6, 5)
    logits = model(x, mask)
    assert logits.shape == (2, 3)
    x2 = x.clone()
    x2[1, 3:] = 100.0
    torch.testing.assert_close(model(x2, mask), logits)


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_gradients_reach_every_trainable_parameter(name):
    model = _model(name, {}).train()
    ids = torch.randint(5, 40, (3, 8))
    model(ids, torch.ones(3, 8, dtype=torch.bool)).sum().backward()
    for pname, p in model.named_parameters():
        if p.requires_grad and "embed" not in pname:
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname


def test_registry_configs_are_dataclasses_with_validation():
    assert set(CLASSIFIERS) == {"rnn", "lstm", "gru", "textcnn", "transformer"}
    for name in ("rnn", "lstm", "gru"):
        assert CLASSIFIERS[name][0]().cell == name
    for cfg_cls, _ in CLASSIFIERS.values():
        assert dataclasses.is_dataclass(cfg_cls)
        with pytest.raises(ValueError):
            cfg_cls(dropout=1.5)
        with pytest.raises(ValueError):
            cfg_cls(embed_dim=0)
    with pytest.raises(ValueError, match="cell"):
        RecurrentClassifierConfig(cell="lstmx")
    with pytest.raises(ValueError, match="vectors"):
        TextCNNClassifierConfig(mode="static")
    assert TextCNNClassifierConfig(widths=[2, 3]).widths == (2, 3)


def test_textcnn_loads_vectors_for_the_vocab(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_text("good 1 1 1 1\nbad -1 -1 -1 -1\n")
    model = _model("textcnn", {"mode": "multichannel", "vectors": str(path)}, vocab=4, embed_dim=4)
    assert model.init_from_vocab(["<pad>", "<unk>", "good", "bad"]) == 2
    assert model.cnn.static_embed.weight[3].tolist() == [-1.0] * 4


def test_pooling_ignores_padding():
    h = torch.tensor([[[1.0, -1.0], [3.0, 5.0], [100.0, 100.0]]])  # (1, 3, 2), position 2 is padding
    mask = torch.tensor([[True, True, False]])
    assert pool_max(h, mask).tolist() == [[3.0, 5.0]]
    assert pool_mean(h, mask).tolist() == [[2.0, 2.0]]
    assert pool_last(h, mask).tolist() == [[3.0, 5.0]]
    # bidirectional: forward half at the last real step, backward half at position 0
    assert pool_last(h, mask, bidirectional=True).tolist() == [[3.0, -1.0]]
    pooled, w = AttentionPool(2)(h, mask, return_weights=True)
    assert w[0, 2] == 0 and torch.isclose(w.sum(), torch.tensor(1.0))
    empty = torch.zeros(1, 3, dtype=torch.bool)
    for pool in POOLS:
        head = ClassifierHead(2, 2, pool)
        out = head(h, empty)
        out.sum().backward()
        assert torch.isfinite(out).all() and all(torch.isfinite(p.grad).all() for p in head.parameters()), pool


def test_lstm_learns_a_long_range_dependency():
    """The label is the token 55 positions from the end: the default BiLSTM with max pooling gets it."""
    torch.manual_seed(0)
    model = _model("lstm", {}, vocab=12, n_classes=2, embed_dim=16, hidden=16).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    T = 60

    def batch(n):
        ids = torch.randint(4, 12, (n, T))  # noise tokens 4..11
        y = torch.randint(0, 2, (n,))
        ids[:, T - 55] = 2 + y  # token 2 or 3 decides the label
        return ids, y

    for _ in range(60):
        ids, y = batch(32)
        loss = torch.nn.functional.cross_entropy(model(ids, torch.ones_like(ids, dtype=torch.bool)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ids, y = batch(200)
    acc = (model.eval()(ids, torch.ones_like(ids, dtype=torch.bool)).argmax(-1) == y).float().mean()
    assert acc > 0.95
