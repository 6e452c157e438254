"""Hugging Face import: GPT-2 and BERT logits equal HF's, GPT-2 greedy generation equals HF generate."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from seqlab.errors import UserError  # noqa: E402
from seqlab.interop.hf import load_model  # noqa: E402
from seqlab.models.sampling import GenerationConfig, generate  # noqa: E402


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=99, n_positions=64, n_layer=2, n_head=4, n_embd=32,
                                  bos_token_id=98, eos_token_id=98, pad_token_id=0)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    d = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(d)
    return d, model


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=64, max_position_embeddings=64)
    model = transformers.BertForMaskedLM(cfg).eval()
    d = tmp_path_factory.mktemp("bert")
    model.save_pretrained(d)
    return d, model


def test_gpt2_logits_match(gpt2_dir):
    d, hf = gpt2_dir
    kind, ours, _ = load_model(d)
    assert kind == "gpt"
    idx = torch.randint(0, 99, (3, 20))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx), hf(idx).logits, rtol=0, atol=1e-4)


def test_gpt2_padded_batch_logits_match(gpt2_dir):
    d, hf = gpt2_dir
    _, ours, _ = load_model(d)
    idx = torch.randint(1, 99, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, :5] = False  # left padding
    pos = (mask.long().cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        theirs = hf(idx, attention_mask=mask.long(), position_ids=pos).logits
        torch.testing.assert_close(ours(idx, mask)[mask], theirs[mask], rtol=0, atol=1e-4)


def test_gpt2_greedy_generation_equals_hf(gpt2_dir):
    d, hf = gpt2_dir
    _, ours, _ = load_model(d)
    prompt = torch.randint(0, 98, (1, 10))
    with torch.no_grad():
        theirs = hf.generate(prompt, max_new_tokens=30, do_sample=False, pad_token_id=0)[0, 10:].tolist()
    mine = generate(ours, [prompt[0].tolist()], GenerationConfig(max_new_tokens=30, greedy=True))[0]
    assert mine == theirs


def test_bert_mlm_logits_match(bert_dir):
    d, hf = bert_dir
    kind, ours, _ = load_model(d)
    assert kind == "bert"
    idx = torch.randint(0, 99, (3, 20))
    mask = torch.ones(3, 20, dtype=torch.bool)
    mask[1, 14:] = False
    seg = torch.zeros(3, 20, dtype=torch.long)
    seg[:, 10:] = 1
    with torch.no_grad():
        theirs = hf(input_ids=idx, attention_mask=mask.long(), token_type_ids=seg).logits
        torch.testing.assert_close(ours(idx, mask, seg)[mask], theirs[mask], rtol=0, atol=1e-4)


def test_bert_model_without_head_imports_encoder(tmp_path):
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=32, max_position_embeddings=32)
    hf = transformers.BertModel(cfg).eval()
    hf.save_pretrained(tmp_path)
    _, ours, _ = load_model(tmp_path)
    idx = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(ours.bert(idx), hf(idx).last_hidden_state, rtol=0, atol=1e-4)


def test_unsupported_architecture_names_the_supported(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    with pytest.raises(UserError, match="GPT2LMHeadModel.*LlamaForCausalLM"):
        load_model(tmp_path)


def test_missing_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(UserError, match="model.safetensors"):
        load_model(tmp_path)


def _byte_bpe(path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["hello world, this is a small test of the tokenizer"] * 20, trainer)
    tok.save(str(path))
    return tok


@pytest.fixture(scope="module")
def gpt2_with_tokenizer(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt2tok")
    tok = _byte_bpe(d / "tokenizer.json")
    torch.manual_seed(1)
    cfg = transformers.GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_layer=2, n_head=2, n_embd=32,
                                  bos_token_id=0, eos_token_id=0)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    hf.save_pretrained(d)
    return d, hf, tok


def test_import_hf_cli_then_generate_equals_hf(gpt2_with_tokenizer, cli, tmp_path):
    d, hf, tok = gpt2_with_tokenizer
    out = tmp_path / "run"
    code, stdout, err = cli("import-hf", d, "--out", out, "--json")
    assert code == 0, err
    assert json.loads(stdout)["task"] == "lm"
    code, stdout, err = cli("generate", out, "--prompt", "hello world", "--greedy", "--max-new-tokens", "12",
                            "--precision", "fp32", "--json")
    assert code == 0, err
    ids = torch.tensor([tok.encode("hello world").ids])
    with torch.no_grad():
        theirs = hf.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=0)[0, ids.size(1):].tolist()
    if 0 in theirs:  # HF stops at eos (<|endoftext|> = 0), and so does seqlab
        theirs = theirs[:theirs.index(0)]
    assert json.loads(stdout)["generations"][0]["text"] == tok.decode(theirs)


def test_from_hf_in_memory_and_on_disk(gpt2_with_tokenizer, tmp_path):
    import seqlab

    d, _, _ = gpt2_with_tokenizer
    mem = seqlab.from_hf(d)
    disk = seqlab.from_hf(d, out=tmp_path / "r")
    a = mem.generate("hello", 8, greedy=True, precision="fp32")
    assert a == disk.generate("hello", 8, greedy=True, precision="fp32")
    assert (tmp_path / "r" / "tokenizer.json").is_file()


def test_import_hf_bert_run_fills_masks(bert_dir, tmp_path, cli):
    d, _ = bert_dir
    code, stdout, err = cli("import-hf", d, "--out", tmp_path / "b", "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert info["task"] == "mlm" and info["tokenizer"] is False  # no tokenizer.json in that checkpoint


def test_import_hf_unsupported_cli(tmp_path, cli):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["T5ForConditionalGeneration"]}))
    code, _, err = cli("import-hf", tmp_path, "--out", tmp_path / "out")
    assert code == 2 and "GPT2LMHeadModel" in err and "T5ForConditionalGeneration" in err
