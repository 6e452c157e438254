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
    monkeypatch.setattr(plots, "_rebuilt", True)  # the one cache rebuild per process is tested on its own
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


def test_no_cjk_font_rebuilds_the_font_cache_once_and_looks_again(monkeypatch, caplog):
    from types import SimpleNamespace

    from matplotlib import font_manager

    monkeypatch.delenv("SEQLAB_FONT", raising=False)
    monkeypatch.setattr(plots, "_rebuilt", False)
    monkeypatch.setattr(plots, "CJK_FAMILIES", ("Freshly Installed Gothic",))
    calls = []

    def fake_load(try_read_cache=True):
        calls.append(try_read_cache)
        fresh = SimpleNamespace(**vars(font_manager.fontManager))
        fresh.ttflist = [*font_manager.fontManager.ttflist, SimpleNamespace(name="Freshly Installed Gothic")]
        return fresh

    before = dict(vars(font_manager.fontManager))
    monkeypatch.setattr(font_manager, "_load_fontmanager", fake_load)
    try:
        with caplog.at_level(logging.INFO, logger="seqlab"):
            assert plots.cjk_font() == "Freshly Installed Gothic"
            plots.cjk_font.cache_clear()
            plots.cjk_font()
        assert calls == [False]  # rebuilt from the system fonts, once
        assert any("rebuilding" in r.getMessage() for r in caplog.records)
    finally:
        vars(font_manager.fontManager).clear()
        vars(font_manager.fontManager).update(before)


def test_heatmap_has_a_colour_bar_and_an_unwritable_plot_is_one_error(tmp_path):
    import matplotlib.pyplot as plt

    from seqlab.errors import UserError

    seen = []
    real = plots._save
    plots_save = lambda fig, path, caption=None: (seen.append((len(fig.axes), caption)), real(fig, path, caption))[1]
    try:
        plots._save = plots_save
        plots.heatmap([[0.2, 0.8], [0.6, 0.4]], ["a", "b"], ["c", "d"], tmp_path / "h.png")
    finally:
        plots._save = real
    assert seen[0][0] == 2 and "attends" in seen[0][1]  # the image and its colour bar, with a caption
    (tmp_path / "dir.png").mkdir()
    for bad in (tmp_path / "dir.png", tmp_path / "file.txt" / "x.png", "/sys/seqlab-denied/x.png"):
        if str(bad).startswith("/sys") and not Path("/sys").is_dir():
            continue
        if isinstance(bad, Path) and bad.parent.name == "file.txt":
            bad.parent.write_text("a file, not a folder")
        with pytest.raises(UserError, match="cannot write the plot"):
            plots.lines([10, 40], {"rnn": [1.0, 0.5], "gru": [1.0, 0.5]}, bad, "d", "acc", "t")
    assert not plt.get_fignums()  # no figure left open after a failed save


def test_forecast_plot_shows_actual_values_and_both_baselines(tmp_path, monkeypatch):
    import numpy as np

    seen = {}
    real = plots._save

    def spy(fig, path, caption=None):
        ax = fig.axes[0]
        seen.update({ln.get_label(): ln.get_ydata() for ln in ax.get_lines()})
        return real(fig, path, caption)

    monkeypatch.setattr(plots, "_save", spy)
    hist = np.arange(48, dtype=float)[:, None] % 24  # two days of an hourly cycle
    plots.forecast(list(range(48)), hist, list(range(48, 60)), hist[:12] + 0.5, tmp_path / "f.png", ["load"],
                   actual=hist[:12], season=24)
    assert {"history", "actual", "forecast", "naive", "seasonal naive (24)"} <= set(seen)
    assert list(seen["naive"]) == [23.0] * 12 and list(seen["seasonal naive (24)"]) == list(range(12))
    assert (tmp_path / "f.png").is_file()


def test_lines_keep_equal_series_visible(tmp_path, monkeypatch):
    seen = []
    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path, caption=None: (seen.extend(fig.axes[0].get_lines()), real(fig, path, caption))[1])
    plots.lines([10, 40, 80], {"lstm": [1.0, 1.0, 1.0], "gru": [1.0, 1.0, 1.0]}, tmp_path / "l.png", "d", "acc", "t", hline=0.5)
    lstm, gru = seen[0], seen[1]
    assert lstm.get_marker() != gru.get_marker()
    assert all(a < b for a, b in zip(lstm.get_xdata(), gru.get_xdata()))  # nudged apart, not on top of each other
