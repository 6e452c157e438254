"""GPT and the recurrent LMs: causal mask, KV cache equivalence, padding, context sliding, config checks."""

import pytest
import torch
from conftest import greedy_no_cache, tiny_gpt

from seqlab.models.gpt import GPTConfig
from seqlab.models.rnnlm import RNNLM, RNNLMConfig, detach_state
from seqlab.models.sampling import GenerationConfig, generate


def test_shapes_and_weight_tying():
    m = tiny_gpt()
    assert m(torch.randint(0, 50, (3, 7))).shape == (3, 7, 50)
    assert m.lm_head.weight is m.wte.weight
    assert tiny_gpt(tie_weights=False).lm_head.weight is not tiny_gpt(tie_weights=False).wte.weight


def test_causal_mask_future_does_not_leak():
    m = tiny_gpt()
    x = torch.randint(0, 50, (2, 16))
    y = x.clone()
    y[:, 10:] = torch.randint(0, 50, (2, 6))  # perturb the future
    with torch.no_grad():
        a, b = m(x), m(y)
    torch.testing.assert_close(a[:, :10], b[:, :10], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_kv_cache_logits_equal_full_forward():
    m = tiny_gpt()
    idx = torch.randint(0, 50, (3, 20))
    with torch.no_grad():
        full = m(idx)  # (B, T, V)
        logits, cache = m.prefill(idx[:, :5], None, 15)
        steps = [logits] + [m.decode(idx[:, t], cache) for t in range(5, 19)]
    torch.testing.assert_close(torch.stack(steps, 1), full[:, 4:19], rtol=0, atol=1e-5)


def test_kv_cache_greedy_tokens_identical():
    m = tiny_gpt()
    prompt = [3, 14, 15, 9, 26]
    cached = generate(m, [prompt], GenerationConfig(max_new_tokens=25, greedy=True))[0]
    assert cached == greedy_no_cache(m, prompt, 25)


def test_left_padding_gives_each_row_its_own_result():
    m = tiny_gpt()
    prompts = [[5, 6, 7, 8, 9, 10, 11], [1, 2], [40, 41, 42, 43]]
    batched = generate(m, prompts, GenerationConfig(max_new_tokens=12, greedy=True))
    alone = [generate(m, [p], GenerationConfig(max_new_tokens=12, greedy=True))[0] for p in prompts]
    assert batched == alone


def test_padding_mask_without_cache_matches_unpadded():
    m = tiny_gpt()
    x = torch.randint(0, 50, (1, 9))
    padded = torch.cat([torch.zeros(1, 4, dtype=torch.long), x], 1)
    mask = torch.cat([torch.zeros(1, 4, dtype=torch.bool), torch.ones(1, 9, dtype=torch.bool)], 1)
    with torch.no_grad():
        torch.testing.assert_close(m(padded, mask)[:, 4:], m(x), rtol=0, atol=1e-5)


def test_generation_past_the_context_slides_the_window(caplog):
    m = tiny_gpt(block_size=16)
    out = generate(m, [list(range(1, 21))], GenerationConfig(max_new_tokens=30, greedy=True))[0]
    assert len(out) == 30
    assert "longer than the context" in caplog.text  # the 20-token prompt was left-truncated to 16
    # until the window first slides, the cached result equals the full recomputation
    assert out[:1] == greedy_no_cache(m, list(range(5, 21)), 1)


def test_cache_rejects_right_padding():
    m = tiny_gpt()
    ids = torch.ones(2, 4, dtype=torch.long)
    mask = torch.tensor([[True, True, False, False], [True] * 4])
    with pytest.raises(ValueError, match="left"):
        m.prefill(ids, mask, 4)


@pytest.mark.parametrize("kw", [dict(n_embd=30, n_head=4), dict(dropout=1.0), dict(activation="relu"),
                                dict(block_size=0)])
def test_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        GPTConfig(**kw)


def test_bf16_model_generates():
    m = tiny_gpt().to(torch.bfloat16)
    out = generate(m, [[1, 2, 3]], GenerationConfig(max_new_tokens=5, greedy=True))[0]
    assert len(out) == 5


# ---- recurrent LMs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_rnnlm_state_carry_equals_one_pass(cell):
    torch.manual_seed(0)
    lm = RNNLM(RNNLMConfig(vocab_size=30, cell=cell, d_emb=16, hidden=24, n_layer=2, dropout=0.0)).eval()
    x = torch.randint(0, 30, (2, 12))
    with torch.no_grad():
        whole, _ = lm(x)
        a, st = lm(x[:, :5])
        b, _ = lm(x[:, 5:], detach_state(st))  # stateful: the second block continues the first
    torch.testing.assert_close(torch.cat([a, b], 1), whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnnlm_generation_matches_recompute_and_padding(cell):
    torch.manual_seed(0)
    lm = RNNLM(RNNLMConfig(vocab_size=30, cell=cell, d_emb=16, hidden=24, n_layer=1, dropout=0.0)).eval()
    prompts = [[1, 2, 3, 4, 5], [7, 8]]
    batched = generate(lm, prompts, GenerationConfig(max_new_tokens=8, greedy=True))
    for p, got in zip(prompts, batched):
        ids = list(p)
        with torch.no_grad():
            for _ in range(8):
                ids.append(int(lm(torch.tensor([ids]))[0][0, -1].argmax()))
        assert got == ids[len(p):]


def test_rnnlm_config_checks():
    with pytest.raises(ValueError, match="cell"):
        RNNLMConfig(cell="transformer")
    with pytest.raises(ValueError, match="tie_weights"):
        RNNLMConfig(tie_weights=True, d_emb=8, hidden=16)
