"""The caption task end to end through the CLI: builtin:scenes, a folder of PNG files with a captions CSV,
.npy feature vectors, the caption verb with attention plots, evaluate on held-out combinations, errors."""

import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from seqlab.data.builtin import generate

TINY = ["--set", "data.image_size=16", "--set", "model.channels=8", "--set", "model.blocks=2", "--set", "model.hidden=32",
        "--set", "model.emb_dim=16", "--set", "model.attn_dim=16", "--set", "model.d_ff=32", "--set", "model.n_head=2",
        "--batch-size", "32", "--lr", "5e-3", "--seed", "0"]


ONE_THREAD = True  # small models: one thread beats two contended ones (conftest.one_thread)


@pytest.fixture(scope="module")
def sat_run(tmp_path_factory):
    from seqlab.cli.main import main

    out = tmp_path_factory.mktemp("cap") / "sat"
    assert main(["-q", "train", "caption", "--data", "builtin:scenes?n=600&max_objects=1", "--model", "sat", "--epochs",
                 "12", "--out", str(out), *TINY]) == 0
    return out


def test_sat_learns_scenes(sat_run):
    s = json.loads((sat_run / "summary.json").read_text())
    t = s["test"]
    assert t["colour"] > 0.3 and t["size"] > 0.55 and t["object_count"] > 0.9, t  # chance: colour 0.2, size 0.5
    assert {"bleu", "exact_match", "attribute_accuracy", "loss"} <= set(t)
    caps = json.loads((sat_run / "test_captions.json").read_text())
    assert caps[0]["caption"].startswith("a ")


def test_caption_verb_and_attention(sat_run, tmp_path, capsys):
    d = generate("scenes", {"n": "2", "size": "16", "max_objects": "1"}, seed=9)
    img = tmp_path / "s.png"
    Image.fromarray(d["images"][0]).save(img)
    att = tmp_path / "att.png"
    code, out, err = run_cli(["caption", sat_run, img, "--beam", "2", "--n-best", "2", "--attention", att, "--json"], capsys)
    assert code == 0, err
    p = json.loads(out)["predictions"][0]
    assert len(p["n_best"]) == 2 and p["caption"] == p["n_best"][0]["caption"]
    assert att.is_file() and att.stat().st_size > 1000
    code, out, err = run_cli(["evaluate", sat_run, "--data", "builtin:scenes?split=heldout&n=50&max_objects=1", "--json"],
                             capsys)
    assert code == 0, err
    assert json.loads(out)["n"] == 50
    code, _, err = run_cli(["caption", sat_run, tmp_path / "missing.png"], capsys)
    assert code == 2 and "no file" in err


def test_vec2seq_refuses_attention_and_transformer_trains(tmp_path, capsys):
    from seqlab.cli.main import main

    for model in ("vec2seq", "transformer"):
        assert main(["-q", "train", "caption", "--data", "builtin:scenes?n=100&max_objects=1", "--model", model,
                     "--epochs", "1", "--out", str(tmp_path / model), *TINY]) == 0
    capsys.readouterr()
    d = generate("scenes", {"n": "1", "size": "16"}, seed=3)
    Image.fromarray(d["images"][0]).save(tmp_path / "s.png")
    code, _, err = run_cli(["caption", tmp_path / "vec2seq", tmp_path / "s.png", "--attention", tmp_path / "a.png"], capsys)
    assert code == 2 and "no attention" in err
    code, out, err = run_cli(["caption", tmp_path / "transformer", tmp_path / "s.png", "--attention", tmp_path / "t.png"],
                             capsys)
    assert code == 0 and (tmp_path / "t.png").is_file(), err


def test_user_folder_of_images_and_features(tmp_path, capsys):
    from seqlab.cli.main import main

    d = generate("scenes", {"n": "40", "size": "16", "max_objects": "1"}, seed=0)
    (tmp_path / "img").mkdir()
    rows, frows = ["image,caption"], ["image,caption"]
    for i, (im, cap) in enumerate(zip(d["images"], d["captions"])):
        Image.fromarray(im).save(tmp_path / "img" / f"{i}.png")
        np.save(tmp_path / "img" / f"{i}.npy", im.mean(axis=(0, 1)).astype(np.float32))
        rows.append(f"img/{i}.png,{cap}")
        frows.append(f"img/{i}.npy,{cap}")
    (tmp_path / "caps.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "feats.csv").write_text("\n".join(frows) + "\n")
    assert main(["-q", "train", "caption", "--data", str(tmp_path / "caps.csv"), "--model", "sat", "--epochs", "1",
                 "--out", str(tmp_path / "r1"), *TINY]) == 0
    capsys.readouterr()  # the training summary
    code, out, err = run_cli(["predict", tmp_path / "r1", "--data", tmp_path / "caps.csv", "--json"], capsys)
    assert code == 0, err
    assert len(json.loads(out)["predictions"]) == 40
    assert main(["-q", "train", "caption", "--data", str(tmp_path / "feats.csv"), "--model", "sat", "--set",
                 "model.encoder=features", "--epochs", "1", "--out", str(tmp_path / "r2"), *TINY]) == 0
    capsys.readouterr()
    code, out, err = run_cli(["caption", tmp_path / "r2", tmp_path / "img" / "0.npy", "--json"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["caption", tmp_path / "r2", tmp_path / "img" / "0.png"], capsys)
    assert code == 2 and "feature" in err
