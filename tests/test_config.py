from dataclasses import dataclass

import pytest

from seqlab.config import apply_overrides, from_dict, parse_set, to_dict
from seqlab.errors import UserError
from seqlab.train.engine import TrainConfig


@dataclass
class Toy:
    hidden: int = 8
    widths: tuple[int, ...] = (3, 4)
    name: str | None = None
    flag: bool = False

    def __post_init__(self):
        if self.hidden < 1:
            raise ValueError("hidden must be ≥ 1")


def test_overrides_are_typed():
    cfg = apply_overrides(Toy(), {"hidden": "32", "widths": "2,5", "name": "none", "flag": "true"}, "model")
    assert cfg == Toy(hidden=32, widths=(2, 5), name=None, flag=True)


def test_unknown_key_lists_valid_keys():
    with pytest.raises(UserError, match=r"model\.hiden.*model\.flag, model\.hidden"):
        apply_overrides(Toy(), {"hiden": "3"}, "model")


def test_bad_values_are_user_errors():
    with pytest.raises(UserError, match="whole number"):
        apply_overrides(Toy(), {"hidden": "3.5"}, "model")
    with pytest.raises(UserError, match="hidden must be"):
        apply_overrides(Toy(), {"hidden": "0"}, "model")
    with pytest.raises(UserError, match="schedule"):
        apply_overrides(TrainConfig(), {"schedule": "exp"}, "train")


def test_round_trip_and_parse_set():
    cfg = Toy(hidden=5, widths=(1,))
    assert from_dict(Toy, to_dict(cfg)) == cfg
    assert parse_set(["model.hidden=4", "train.lr=0.1"], ("model", "train")) == {"model": {"hidden": "4"}, "train": {"lr": "0.1"}}
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_set(["model.hidden"], ("model",))
    with pytest.raises(UserError, match="keys start with"):
        parse_set(["hidden=3"], ("model",))
