"""Length-bucketed batches: every index once per epoch, similar lengths together, and the token cap."""

import random

from seqlab.data.batching import bucket_batches


def test_every_index_once_and_the_token_cap_holds():
    rng = random.Random(0)
    lengths = [rng.choice([5, 10, 20, 400]) for _ in range(1000)]
    for cap in (0, 2000):
        batches = bucket_batches(lengths, 64, seed=1, epoch=2, max_tokens=cap)
        assert sorted(i for b in batches for i in b) == list(range(1000))
        assert all(len(b) <= 64 for b in batches)
        if cap:
            assert all(len(b) * max(lengths[i] for i in b) <= cap for b in batches)
            assert sum(len(b) == 5 for b in batches) > 0  # 400-token items: 5 to a batch
        else:
            assert any(len(b) * max(lengths[i] for i in b) > 2000 for b in batches)
    # short items are untouched by a cap they never reach: the same batches as without it
    short = [rng.randint(3, 30) for _ in range(500)]
    assert bucket_batches(short, 128, 3, 0, max_tokens=12800) == bucket_batches(short, 128, 3, 0)
    # an item longer than the cap still forms its own batch
    assert bucket_batches([10, 5000, 10], 8, shuffle=False, max_tokens=100) == [[0, 2], [1]]
