"""The page at ``/`` in a real browser: Playwright for Python driving Debian's Chromium (/usr/bin/chromium;
Playwright's own browser download is not used). The server runs in-process on 127.0.0.1 over tiny runs.
Each test types into the page, submits, asserts on what appears and saves a screenshot in its tmp dir.

Skipped (with the reason) only where Playwright or Chromium is missing: `make test` and `.ci/run` install
Chromium with apt where they can."""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

CHROMIUM = os.environ.get("SEQLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM:
    pytest.skip("no Chromium found (apt-get install -y chromium, or set SEQLAB_CHROMIUM)", allow_module_level=True)

import seqlab  # noqa: E402
from seqlab.serve import Limits, create_app  # noqa: E402
from serve_runs import LiveServer, tiny_runs  # noqa: E402


@pytest.fixture(scope="module")
def server():
    runs = {name: seqlab.load(path) for name, path in tiny_runs(("clf", "lm", "s2s", "fc", "mlm")).items()}
    srv = LiveServer(create_app(runs, Limits(max_new_tokens=400)))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_selector("#model option", state="attached")
    yield page
    page.close()
    assert not errors, errors


def test_classify_shows_a_label_and_one_bar_per_label(page, tmp_path):
    page.select_option("#model", "clf")
    assert page.is_visible("#task-classify") and not page.is_visible("#task-lm")
    page.fill("#clf-text", "classa x y\n정말 강추 합니다")
    page.click("#clf-run")
    page.wait_for_selector("#clf-out .result >> nth=1")
    results = page.locator("#clf-out .result")
    assert results.count() == 2
    assert results.nth(1).locator(".text").inner_text().startswith("정말 강추 합니다")  # Hangul round-trips
    assert results.nth(0).locator(".label").inner_text() in ("classa", "classb")
    assert results.nth(0).locator(".bar").count() == 2
    widths = [float(w.rstrip("%")) for w in results.nth(0).locator(".bar .fill").evaluate_all("els => els.map(e => e.style.width)")]
    assert sum(widths) == pytest.approx(100, abs=0.3)
    page.screenshot(path=str(tmp_path / "classify.png"), full_page=True)
    assert (tmp_path / "classify.png").stat().st_size > 1000


def test_translate_draws_the_attention_heatmap(page, tmp_path):
    page.select_option("#model", "s2s")
    page.fill("#s2s-text", "저는 강사 입니다")
    page.fill("#s2s-beam", "3")
    page.fill("#s2s-nbest", "2")
    page.click("#s2s-run")
    page.wait_for_selector("#s2s-heat svg rect.cell")
    translation = page.inner_text("#s2s-translation")
    assert translation.strip()
    assert page.locator("#s2s-nbest-list li").count() == 2
    rows = page.locator("#s2s-heat .tgt-token").count()
    cols = page.locator("#s2s-heat .src-token").all_text_contents()  # SVG text has no innerText
    assert cols == ["저는", "강사", "입니다"] and rows >= len(translation.split())
    assert page.locator("#s2s-heat rect.cell").count() == rows * len(cols)
    cell = page.locator("#s2s-heat rect.cell").first
    cell.hover()
    assert page.is_visible("#tooltip") and "←" in page.inner_text("#tooltip")
    page.screenshot(path=str(tmp_path / "translate.png"), full_page=True)


def test_generated_text_streams_in(page, tmp_path):
    page.select_option("#model", "lm")
    page.fill("#lm-prompt", "hel")
    page.check("#lm-greedy")
    page.eval_on_selector("#lm-max", "e => { e.value = 400; e.dispatchEvent(new Event('input')); }")
    # record every length the generated text takes while it streams
    page.evaluate("""() => { window.lengths = [];
        new MutationObserver(() => window.lengths.push(document.querySelector('#lm-out .generated').textContent.length))
          .observe(document.querySelector('#lm-out .generated'), {childList: true, characterData: true, subtree: true}); }""")
    page.click("#lm-run")
    page.wait_for_function("document.querySelector('#lm-stats').textContent.includes('tokens')", timeout=60_000)
    lengths = page.evaluate("window.lengths")
    final = page.inner_text("#lm-out .generated")
    pieces = int(page.get_attribute("#lm-out .generated", "data-pieces"))
    assert len(final) > 0 and lengths[-1] == len(final)
    # the page appended the stream piece by piece and the text never shrank; how many of those appends the
    # observer sees apart depends on how the browser groups network reads, so the piece count is the page's own
    assert pieces > 3 and lengths == sorted(lengths)
    assert page.inner_text("#lm-out .prompt") == "hel"
    page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)


def test_forecast_plot_shows_history_forecast_and_baselines(page, tmp_path):
    from seqlab.data.builtin_series import make_series

    page.select_option("#model", "fc")
    csv = tmp_path / "series.csv"
    make_series("sine", n=150).to_csv(csv, index=False)
    page.set_input_files("#fc-file", str(csv))
    page.wait_for_function("document.querySelector('#fc-csv').value.length > 100")
    page.fill("#fc-horizon", "10")
    page.click("#fc-run")
    page.wait_for_selector("#fc-plot svg polyline.forecast")
    for name in ("history", "forecast", "naive", "seasonal_naive"):
        assert page.locator(f"#fc-plot polyline.{name}").count() == 1, name
    points = page.get_attribute("#fc-plot polyline.forecast", "points").split()
    assert len(points) == 10
    hist_x = max(float(p.split(",")[0]) for p in page.get_attribute("#fc-plot polyline.history", "points").split())
    assert float(points[0].split(",")[0]) > hist_x  # the forecast is drawn after the history
    page.screenshot(path=str(tmp_path / "forecast.png"), full_page=True)


def test_fill_mask_lists_candidates_per_mask(page, tmp_path):
    page.select_option("#model", "mlm")
    page.fill("#mlm-text", "the [MASK] was [MASK]")
    page.click("#mlm-run")
    page.wait_for_selector("#mlm-out .result >> nth=1")
    assert page.locator("#mlm-out .result").count() == 2
    assert page.locator("#mlm-out .result").first.locator(".cand").count() == 5  # top_k default
    page.screenshot(path=str(tmp_path / "mlm.png"), full_page=True)


def test_a_bad_request_shows_the_servers_message(page):
    page.select_option("#model", "lm")
    page.fill("#lm-prompt", "qqq")
    page.click("#lm-run")
    page.wait_for_selector("#error:not([hidden])")
    assert "nothing this model knows" in page.inner_text("#error")


def test_offline_api_docs_page(browser, server, tmp_path):
    page = browser.new_page()
    page.goto(server.url + "/docs")
    page.wait_for_selector("section.endpoint >> nth=5")
    titles = page.locator("section.endpoint h2").all_inner_texts()
    assert "POST /v1/models/{name}/predict" in titles and "GET /health" in titles
    predict = page.locator("section.endpoint", has_text="POST /v1/models/{name}/predict")
    assert "n_best" in predict.locator("table.fields").inner_text()
    health = page.locator("section.endpoint", has_text="GET /health").first
    health.locator("button").click()
    page.wait_for_function("[...document.querySelectorAll('pre.response')].some(p => p.textContent.startsWith('200'))")
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    page.close()
