"""A seq2seq Transformer's data- and budget-dependent defaults (tasks/seq2seq_budget.py)."""

import json

from seqlab.models.seq2seq import Seq2SeqConfig
from seqlab.models.transformer import TransformerConfig
from seqlab.tasks import seq2seq_budget as sb
from seqlab.tasks.base import Composed, TrainRequest
from seqlab.tasks.seq2seq import Seq2SeqData
from seqlab.train.engine import TrainConfig

ONE_THREAD = True
TINY = ["--batch-size", "32", "--precision", "fp32", "--set", "model.d_model=32", "--set", "model.n_head=2",
        "--set", "model.d_ff=64", "--set", "model.n_enc_layer=1", "--set", "model.n_dec_layer=1", "--set", "data.beam=1"]


def _req(train_flags=None, sets=None):
    return TrainRequest(task="seq2seq", model="transformer", data="x", out="y", train_flags=train_flags or {},
                        sets=sets or {})


def _comp(model_name="transformer", model_cfg=None, **train):
    return Composed(model_name, model_cfg or TransformerConfig(), Seq2SeqData(), TrainConfig(**train))


def test_a_budget_trains_to_its_end_with_a_weight_average_and_small_data_gets_more_dropout():
    comp = _comp(epochs=20, time_budget=60.0)
    chosen = sb.apply(comp, _req(), 29_000)
    assert chosen == {"train.epochs": sb.BUDGET_EPOCHS, "train.ema": sb.EMA, "model.dropout": sb.SMALL_DATA_DROPOUT}
    assert comp.train.epochs == sb.BUDGET_EPOCHS and comp.train.ema == sb.EMA and comp.model.dropout == 0.3
    assert comp.train.time_budget == 60.0 and comp.train.patience == TrainConfig().patience  # early stopping stays


def test_no_budget_or_much_data_keeps_the_base_defaults():
    comp = _comp(epochs=20)
    assert sb.apply(comp, _req(), sb.SMALL_PAIRS) == {}
    assert comp.train.epochs == 20 and comp.train.ema == 0.0 and comp.model.dropout == TransformerConfig().dropout
    comp = _comp(epochs=20)
    assert sb.apply(comp, _req(), sb.SMALL_PAIRS - 1) == {"model.dropout": 0.3} and comp.train.ema == 0.0


def test_what_the_user_set_wins():
    comp = _comp(epochs=7, time_budget=5.0, ema=0.0)
    req = _req(train_flags={"epochs": 7}, sets={"model": {"dropout": "0.1"}, "train": {"ema": "0"}})
    assert sb.apply(comp, req, 100) == {}
    assert comp.train.epochs == 7 and comp.train.ema == 0.0
    comp = _comp(epochs=7, time_budget=5.0)
    assert sb.apply(comp, _req(sets={"train": {"ema": "0.99"}}), 100) == {"train.epochs": sb.BUDGET_EPOCHS,
                                                                         "model.dropout": 0.3}


def test_rnn_models_keep_their_own_defaults():
    comp = _comp("bahdanau", Seq2SeqConfig(), time_budget=5.0)
    assert sb.apply(comp, _req(), 100) == {} and comp.train.epochs == TrainConfig().epochs


def test_the_cli_run_records_the_choice_and_a_resume_keeps_it(cli, tmp_path, fake_clock):
    out = tmp_path / "tb"
    code, _, err = cli("-q", "train", "translate", "--data", "builtin:reverse?n=400", "--out", out, *TINY,
                       "--time-budget", "0.05")
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["epochs"] == sb.BUDGET_EPOCHS and cfg["train"]["ema"] == sb.EMA
    assert cfg["model"]["dropout"] == sb.SMALL_DATA_DROPOUT
    assert json.loads((out / "summary.json").read_text())["stop_reason"] == "time_budget"
    chosen = json.loads((out / "meta.json").read_text())["defaults_chosen"]
    assert chosen == {"train.epochs": sb.BUDGET_EPOCHS, "train.ema": sb.EMA, "model.dropout": sb.SMALL_DATA_DROPOUT}
    code, _, err = cli("-q", "train", "translate", "--data", "builtin:reverse?n=400", "--out", out, "--resume",
                       "--time-budget", "0.1")
    assert code == 0, err
    assert json.loads((out / "meta.json").read_text())["defaults_chosen"] == chosen
    assert json.loads((out / "config.json").read_text())["model"]["dropout"] == sb.SMALL_DATA_DROPOUT
    # --epochs given: the run stops at its epochs, not at the budget
    code, _, err = cli("-q", "train", "translate", "--data", "builtin:reverse?n=400", "--out", tmp_path / "ep", *TINY,
                       "--time-budget", "0.05", "--epochs", "1")
    assert code == 0, err
    assert json.loads((tmp_path / "ep" / "config.json").read_text())["train"]["epochs"] == 1
