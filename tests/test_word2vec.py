"""Word2Vec (CBOW, skip-gram; negative sampling, subsampling) and the word-vector queries: planted
structure recovered, pairs and windows against brute force, the saved text format read back."""

import math

import pytest
import torch

from seqlab.data.builtin import generate
from seqlab.embeddings import WordVectors, read_analogies, read_similarity
from seqlab.errors import UserError
from seqlab.models.word2vec import (Vocab, Word2Vec, Word2VecConfig, build_vocab, cbow_windows, draw_noise,
                                    keep_probability, noise_table, save_word2vec, skipgram_pairs)


ONE_THREAD = True  # small models: one thread beats two contended ones (conftest.one_thread)


@pytest.fixture(scope="module")
def corpus():
    d = generate("analogies", {"n": "3000"}, seed=0)
    return d, [line.split() for line in d["text"].splitlines()]


@pytest.mark.parametrize("arch", ["cbow", "skipgram"])
def test_planted_structure_is_recovered(corpus, arch):
    d, sents = corpus
    w2v = Word2Vec(Word2VecConfig(arch=arch, dim=24, min_count=1, epochs=4, sample=0, batch_size=256, seed=1))
    stats = w2v.train(sents)
    assert stats["vocab"] == len(w2v.vocab.words) and math.isfinite(stats["loss"])
    kv = WordVectors(w2v.vocab.words, w2v.W_in)
    groups = d["groups"]
    # the 3 nearest neighbours of every topic word are words of its topic
    topic_words = [w for w in groups if w.startswith("t")]
    hits = sum(groups.get(n) == groups[w] for w in topic_words for n, _ in kv.most_similar(w, 3))
    assert hits / (3 * len(topic_words)) > 0.9
    assert kv.evaluate_analogies(d["analogies"])["accuracy"] > 0.8
    assert kv.analogy("king", "queen", "man")[0][0] == "woman"


def test_deterministic_for_a_seed(corpus):
    _, sents = corpus
    cfg = dict(dim=8, min_count=1, epochs=1, batch_size=512)
    a, b, c = (Word2Vec(Word2VecConfig(seed=s, **cfg)) for s in (0, 0, 1))
    for m in (a, b, c):
        m.train(sents[:500])
    assert torch.equal(a.W_in, b.W_in) and not torch.equal(a.W_in, c.W_in)


def test_skipgram_pairs_match_brute_force():
    ids = torch.tensor([10, 11, 12, 13, 14, 15])
    sent = torch.tensor([0, 0, 0, 1, 1, 1])
    gen = torch.Generator().manual_seed(0)
    c, o = skipgram_pairs(ids, sent, window=1, gen=gen)  # window 1: b is always 1
    got = sorted(zip(c.tolist(), o.tolist()))
    want = sorted((int(ids[i]), int(ids[j])) for i in range(6) for j in range(6)
                  if abs(i - j) == 1 and sent[i] == sent[j])
    assert got == want
    c, o = skipgram_pairs(ids, sent, window=5, gen=gen)
    assert all(sent[int(ci) - 10] == sent[int(oi) - 10] for ci, oi in zip(c, o))  # never across sentences


def test_cbow_windows_stay_in_sentence():
    ids = torch.arange(100, 108)
    sent = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    centres, ctx, mask = cbow_windows(ids, sent, window=3, gen=torch.Generator().manual_seed(0))
    for c, row, m in zip(centres.tolist(), ctx.tolist(), mask.tolist()):
        for w, real in zip(row, m):
            if real:
                assert sent[w - 100] == sent[c - 100] and w != c
    assert len(centres) == 8  # every word has a sentence-mate


def test_subsampling_formula_and_noise_table():
    counts = torch.tensor([900, 90, 10])
    p = keep_probability(counts, 1e-2)
    f = counts.double() / 1000
    want = ((f / 1e-2).sqrt() + 1) * 1e-2 / f
    assert torch.allclose(p.double(), want.clamp(max=1), atol=1e-6)
    assert p[0] < p[1] <= p[2] == 1.0
    draws = draw_noise(noise_table(counts, 0.75), (200_000,), torch.Generator().manual_seed(0))
    share = torch.bincount(draws, minlength=3).double() / len(draws)
    w = counts.double() ** 0.75
    assert torch.allclose(share, w / w.sum(), atol=3e-3)


def test_vocab_min_count_and_order():
    v = build_vocab([["b", "a", "b"], ["c", "a", "b"]], min_count=2)
    assert v.words == ["b", "a"] and v.counts == [3, 2]


def test_saved_format_reads_back(tmp_path):
    words = ["king", "queen", "x_y", "먹/VV"]
    vecs = torch.randn(4, 5)
    p = save_word2vec(tmp_path / "v.txt", words, vecs)
    lines = p.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "4 5" and lines[1].split()[0] == "king" and len(lines[1].split()) == 6
    kv = WordVectors.load(p)
    assert kv.words == words and torch.allclose(kv.vectors, vecs, atol=1e-5)
    gensim = pytest.importorskip("gensim")
    ref = gensim.models.KeyedVectors.load_word2vec_format(str(p), binary=False)
    assert torch.allclose(torch.tensor(ref["queen"]), vecs[1], atol=1e-5)


def test_queries_and_files(tmp_path):
    kv = WordVectors(["a", "b", "c", "d"], torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]]))
    assert kv.most_similar("a", 1)[0][0] == "b"
    with pytest.raises(UserError, match="not in the vocabulary"):
        kv.most_similar("zz")
    q = tmp_path / "q.txt"
    q.write_text(": s1\na b c d\na b c zz\n")
    qs, secs = read_analogies(q)
    r = kv.evaluate_analogies(qs, secs)
    assert r["total"] == 2 and r["covered"] == 1 and r["sections"]["s1"]["covered"] == 1
    s = tmp_path / "s.txt"
    s.write_text("word1\tword2\tscore\na\tb\t9\na\tc\t1\nb\td\t2\n")
    assert kv.evaluate_similarity(read_similarity(s))["spearman"] == pytest.approx(1.0)
