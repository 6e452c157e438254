"""Korean labels in plots: a CJK font is used when one exists, and its absence is said once, not hidden."""

import logging
from pathlib import Path

import matplotlib
import pytest

from seqlab import plots


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    plots.cjk_font.cache_clear()
    monkeypatch.setattr(plots._use_fonts_for, "warned", False, raising=False)
    with matplotlib.rc_context():
        yield
    plots.cjk_font.cache_clear()


def test_font_from_env_is_added_as_fallback(tmp_path, monkeypatch):
    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSerif.ttf"  # stands in for a Korean .ttf
    monkeypatch.setenv("SEQLAB_FONT", str(font))
    out = plots.heatmap([[0.2, 0.8], [0.6, 0.4]], ["저는", "학생"], ["I", "am"], tmp_path / "a.png")
    assert out.is_file()
    assert plots.cjk_font() == "DejaVu Serif"
    assert "DejaVu Serif" in matplotlib.rcParams["font.family"]


def test_missing_font_warns_once(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("SEQLAB_FONT", raising=False)
    monkeypatch.setattr(plots, "CJK_FAMILIES", ("No Such Font Family",))
    with caplog.at_level(logging.WARNING, logger="seqlab"):
        plots.confusion_matrix([[3, 1], [0, 4]], ["긍정", "부정"], tmp_path / "c.png")
        plots.confusion_matrix([[3, 1], [0, 4]], ["긍정", "부정"], tmp_path / "d.png")
    warnings = [r for r in caplog.records if "Korean/CJK font" in r.getMessage()]
    assert len(warnings) == 1 and "SEQLAB_FONT" in warnings[0].getMessage()
    assert (tmp_path / "d.png").is_file()


def test_ascii_labels_leave_fonts_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_FONT", "/nonexistent.ttf")
    before = list(matplotlib.rcParams["font.family"])
    plots.heatmap([[1.0]], ["a"], ["b"], tmp_path / "h.png")
    assert list(matplotlib.rcParams["font.family"]) == before
