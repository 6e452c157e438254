"""seqlab.models.textcnn: Kim (2014) convolutions, masked max-over-time, word-vector loading."""

import gzip

import pytest
import torch
import torch.nn.functional as F

from seqlab.errors import UserError
from seqlab.models.textcnn import TextCNN, load_word_vectors


def _cnn(**kw):
    torch.manual_seed(0)
    return TextCNN(30, embed_dim=6, n_maps=5, **kw).eval()


def test_features_equal_the_paper_formula():
    """z for one map = max_i ReLU(w . x_{i:i+h-1} + b), computed here window by window."""
    cnn = _cnn()
    ids = torch.tensor([[3, 8, 2, 9, 11, 4]])
    z = cnn(ids, torch.ones_like(ids, dtype=torch.bool))
    x = cnn.embed(ids)[0]  # (T, E)
    for k, (h, conv) in enumerate(zip(cnn.widths, cnn.convs)):
        w, b = conv.weight[0], conv.bias[0]  # map 0: (E, h), ()
        c = [F.relu((w * x[i:i + h].T).sum() + b) for i in range(6 - h + 1)]
        assert torch.isclose(z[0, k * 5], torch.stack(c).max(), atol=1e-6)
    assert z.shape == (1, 15)


@pytest.mark.parametrize("mode", ["rand", "multichannel"])
def test_padding_never_wins_and_never_changes_features(mode):
    cnn = _cnn(mode=mode)
    for n in [2, 4, 7]:  # shorter than, equal to, longer than the widest filter (5)
        seq = torch.randint(5, 30, (1, n))
        alone = cnn(seq, torch.ones(1, n, dtype=torch.bool))
        batch = torch.randint(5, 30, (3, 10))  # padded positions hold real-looking ids
        batch[1, :n] = seq[0]
        mask = torch.arange(10)[None, :] < torch.tensor([10, n, 3])[:, None]
        torch.testing.assert_close(cnn(batch, mask)[1], alone[0])


def test_short_batch_and_empty_row_work():
    cnn = _cnn()
    out = cnn(torch.tensor([[4], [0]]), torch.tensor([[True], [False]]))
    assert out.shape == (2, 15) and torch.isfinite(out).all()


def test_modes_freeze_the_right_embeddings():
    assert not _cnn(mode="static").embed.weight.requires_grad
    assert _cnn(mode="non-static").embed.weight.requires_grad
    multi = _cnn(mode="multichannel")
    assert multi.embed.weight.requires_grad and not multi.static_embed.weight.requires_grad
    assert multi.convs[0].in_channels == 12  # both channels feed every filter
    vectors = torch.randn(30, 6)
    multi.set_vectors(vectors)
    torch.testing.assert_close(multi.static_embed.weight, vectors)
    with pytest.raises(ValueError, match="mode"):
        _cnn(mode="dynamic")


def test_numeric_inputs():
    cnn = TextCNN(0, embed_dim=6, n_maps=5, input_dim=3)
    assert cnn(torch.randn(2, 8, 3), torch.ones(2, 8, dtype=torch.bool)).shape == (2, 15)


def test_load_word_vectors_word2vec_and_glove(tmp_path):
    vocab = ["<pad>", "<unk>", "the", "Movie", "zzz"]
    glove = tmp_path / "glove.txt"
    glove.write_text("the 1 2 3\nmovie 4 5 6\nfilm 7 8 9\n")
    w, found = load_word_vectors(glove, vocab, 3)
    assert found == 2 and w.shape == (5, 3)
    assert w[2].tolist() == [1, 2, 3] and w[3].tolist() == [4, 5, 6]  # "Movie" found lower-cased
    assert w[4].abs().max() <= 0.25  # missing words: U(-0.25, 0.25)
    w2v = tmp_path / "w2v.txt.gz"
    with gzip.open(w2v, "wt") as f:
        f.write("2 3\nthe 1 2 3\nMovie 0 0 1\n")  # header line; exact case wins
    w, found = load_word_vectors(w2v, vocab, 3)
    assert found == 2 and w[3].tolist() == [0, 0, 1]


def test_load_word_vectors_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 2\n")
    with pytest.raises(UserError, match="bad.txt:1"):
        load_word_vectors(bad, ["the"], 3)
    with pytest.raises(UserError, match="no file"):
        load_word_vectors(tmp_path / "missing.txt", ["the"], 3)
