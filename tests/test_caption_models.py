"""builtin:scenes and the captioning models: determinism, held-out combinations, shapes, attention,
beam = greedy at beam 1, incremental decoding = teacher forcing, and a tiny model learning scenes."""

import pytest
import torch
import torch.nn.functional as F

from seqlab.data.builtin import generate
from seqlab.data.builtin_scenes import HELDOUT, attribute_accuracy, parse_caption
from seqlab.models.caption import CaptionConfig, Captioner, PRESETS
from seqlab.models.decoding import beam_search, greedy


ONE_THREAD = True  # small models: one thread beats two contended ones (conftest.one_thread)


def test_scenes_deterministic_and_consistent():
    a = generate("scenes", {"n": "50", "size": "24"}, seed=0)
    b = generate("scenes", {"n": "50", "size": "24"}, seed=0)
    assert (a["images"] == b["images"]).all() and a["captions"] == b["captions"]
    assert a["images"].shape == (50, 24, 24, 3) and a["images"].dtype.name == "uint8"
    assert not (generate("scenes", {"n": "50", "size": "24"}, seed=1)["images"] == a["images"]).all()
    for cap, objs, rel in zip(a["captions"], a["objects"], a["relations"]):
        assert parse_caption(cap) == (objs, rel)
    assert attribute_accuracy(a["captions"], a["objects"], a["relations"])["attribute_accuracy"] == 1.0


def test_heldout_split_has_only_unseen_combinations():
    combos = lambda d: [{(o["colour"], o["shape"]) for o in objs} for objs in d["objects"]]  # noqa: E731
    train = generate("scenes", {"n": "400", "split": "train"}, seed=0)
    held = generate("scenes", {"n": "200", "split": "heldout"}, seed=0)
    assert all(not (c & HELDOUT) for c in combos(train))
    assert all(c & HELDOUT for c in combos(held))


def test_attribute_accuracy_scores_mistakes():
    gold = [[{"size": "small", "colour": "red", "shape": "circle"}, {"size": "large", "colour": "blue", "shape": "square"}]]
    r = attribute_accuracy(["a small red square left of a large blue square"], gold, ["above"])
    assert r["shape"] == 0.5 and r["colour"] == 1.0 and r["relation"] == 0.0
    assert r["attribute_accuracy"] == pytest.approx(5 / 7)


def _tiny(preset, **kw):
    torch.manual_seed(0)
    cfg = dict(vocab=30, channels=4, blocks=2, hidden=16, emb_dim=8, attn_dim=8, d_ff=32, n_layer=2, n_head=2,
               dropout=0.0)
    cfg.update(PRESETS[preset])
    cfg.update(kw)
    return Captioner(CaptionConfig(**cfg)).eval()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_shapes_attention_and_decoding(preset):
    m = _tiny(preset)
    imgs, tgt = torch.rand(3, 3, 16, 16), torch.randint(4, 30, (3, 6))
    logits, attn = m(imgs, tgt, return_attn=True)
    assert logits.shape == (3, 6, 30) and torch.isfinite(logits).all()
    if preset == "vec2seq":
        assert attn is None
    else:
        assert attn.shape == (3, 6, 16) and torch.allclose(attn.sum(-1), torch.ones(3, 6), atol=1e-5)
    # incremental steps reproduce the teacher-forced log-probabilities
    state = m.init_state(m.encode(imgs), need_attn=True)
    for t in range(6):
        lp, state, _ = m.step(state, tgt[:, t])
        assert torch.allclose(lp, F.log_softmax(logits[:, t], -1), atol=1e-5)
    mask = torch.ones(3, 1)
    g = greedy(m, imgs, mask, 2, 3, max_len_a=0, max_len_b=8)
    b = beam_search(m, imgs, mask, 2, 3, beam=1, max_len_a=0, max_len_b=8)
    assert [h.tokens for h in g] == [hs[0].tokens for hs in b]
    b5 = beam_search(m, imgs, mask, 2, 3, beam=4, n_best=2, max_len_a=0, max_len_b=8)
    assert all(len(hs) == 2 for hs in b5)


def test_feature_vectors_as_input():
    m = _tiny("sat", encoder="features", feature_dim=10)
    assert m(torch.randn(2, 10), torch.randint(4, 30, (2, 5))).shape == (2, 5, 30)
    logits, attn = m(torch.randn(2, 7, 10), torch.randint(4, 30, (2, 5)), return_attn=True)
    assert attn.shape == (2, 5, 7)
    with pytest.raises(ValueError, match="feature_dim"):
        Captioner(CaptionConfig(encoder="features"))
    with pytest.raises(ValueError, match="gru only"):
        CaptionConfig(decoder="transformer", attention="none")


def test_tiny_model_learns_scenes():
    tr = generate("scenes", {"n": "600", "size": "16", "max_objects": "1"}, seed=0)
    te = generate("scenes", {"n": "100", "size": "16", "max_objects": "1"}, seed=2)
    words = sorted({w for c in tr["captions"] for w in c.split()})
    itos = ["<pad>", "<unk>", "<sos>", "<eos>"] + words
    stoi = {w: i for i, w in enumerate(itos)}
    Y = torch.tensor([[2] + [stoi[w] for w in c.split()] + [3] for c in tr["captions"]])  # all length 6
    X = torch.tensor(tr["images"]).permute(0, 3, 1, 2).float() / 255
    m = _tiny("sat", vocab=len(itos), channels=8, hidden=32, emb_dim=16, attn_dim=16)
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    for _ in range(150):
        i = torch.randint(0, len(X), (32,))
        logits = m(X[i], Y[i, :-1])
        loss = F.cross_entropy(logits.reshape(-1, len(itos)), Y[i, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    Xt = torch.tensor(te["images"]).permute(0, 3, 1, 2).float() / 255
    hyps = greedy(m, Xt, torch.ones(len(Xt), 1), 2, 3, max_len_a=0, max_len_b=8)
    caps = [" ".join(itos[t] for t in h.tokens) for h in hyps]
    acc = attribute_accuracy(caps, te["objects"], te["relations"])
    assert acc["colour"] > 0.5 and acc["size"] > 0.6, acc  # chance: colour 0.2, size 0.5


def test_vec2seq_initial_state_does_not_saturate_with_large_features():
    """The CNN's ReLU features grow to ~10^2 in training; h_0 = tanh(W_init LN(v)) must still tell images
    apart (without the LayerNorm every image got the same +-1 state and vec2seq learned one caption)."""
    model = _tiny("vec2seq")
    v = torch.randn(4, model.mem_dim).abs()
    h_small = model.init_state({"pooled": v})["h"]
    h_large = model.init_state({"pooled": 200 * v})["h"]
    torch.testing.assert_close(h_large, h_small, atol=1e-4, rtol=1e-4)
    assert h_large.std(0).mean() > 0.05 and h_large.abs().max() < 0.999
