"""The report: ``DIR/index.html`` (one self-contained page: inline CSS, no script, no network; the
figures are the PNG files beside it, referenced by relative path) and ``DIR/results.json``."""

from __future__ import annotations

import datetime
import html
import json
import platform
from pathlib import Path

from .. import __version__

_CSS = """
body { font-family: "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", "Apple SD Gothic Neo", sans-serif;
       max-width: 1000px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.5; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
blockquote { margin: .5em 0; padding: .3em 1em; border-left: 4px solid #999; background: #f7f7f7; }
.verdict { display: inline-block; padding: .1em .6em; border-radius: .3em; font-weight: bold; color: white; }
.holds { background: #2e7d32; } .does-not-hold { background: #c62828; } .inconclusive { background: #757575; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: right; } th { background: #eee; }
td:first-child, th:first-child { text-align: left; }
code { background: #f0f0f0; padding: .1em .3em; } img { max-width: 100%; border: 1px solid #ddd; margin: .5em 0; }
.meta { color: #666; font-size: .85em; }
table.toc td { text-align: left; }
"""


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _section(r: dict) -> str:
    e = html.escape
    cls = r["verdict"].replace(" ", "-")
    parts = [f'<h2 id="{e(r["name"])}">{e(r["name"])}</h2>',
             f'<blockquote lang="ko">{e(r["claim_ko"])}</blockquote>',
             f'<blockquote lang="en">{e(r["claim_en"])}</blockquote>',
             f'<p><span class="verdict {cls}">{e(r["verdict"])}</span> {e(r["summary"])}</p>',
             f'<p><b>Threshold (stated before running):</b> {e(r["threshold"])}</p>']
    if r["rows"]:
        head = "".join(f"<th>{e(c)}</th>" for c in r["columns"])
        body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in r["rows"])
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    for f in r["figures"]:
        parts.append(f'<p><img src="{e(f)}" alt="{e(r["name"])}: {e(Path(f).stem)}"></p>')
    parts.append(f"<p>{e(r['explanation'])}</p>")
    parts.append(f'<p class="meta">Reproduce: <code>{e(r["command"])}</code> · {r["mode"]} mode, seed {r["seed"]}, '
                 f'{r["seconds"]:.0f} s (estimate {r["estimate_s"]} s)</p>')
    if r.get("error"):
        parts.append(f'<p class="meta">error: {e(r["error"])}</p>')
    return "\n".join(parts)


def write_report(out: Path, records: list[dict]) -> tuple[Path, Path]:
    """Write ``out/index.html`` and ``out/results.json`` for the records of ``run_study``."""
    out.mkdir(parents=True, exist_ok=True)
    meta = {"seqlab_version": __version__, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {platform.system()}, python {platform.python_version()}"}
    results = out / "results.json"
    results.write_text(json.dumps({**meta, "studies": records}, ensure_ascii=False, indent=1), encoding="utf-8")
    counts = {v: sum(r["verdict"] == v for r in records) for v in ("holds", "does not hold", "inconclusive")}
    toc = "".join(f'<tr><td><a href="#{html.escape(r["name"])}">{html.escape(r["name"])}</a></td>'
                  f'<td><span class="verdict {r["verdict"].replace(" ", "-")}">{html.escape(r["verdict"])}</span></td>'
                  f'<td>{html.escape(r["summary"])}</td></tr>' for r in records)
    page = f"""<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><title>seqlab study: the lecture notes, measured</title>
<style>{_CSS}</style></head><body>
<h1>The lecture notes' claims, measured</h1>
<p class="meta">seqlab {html.escape(meta["seqlab_version"])} · {html.escape(meta["created"])} · {html.escape(meta["machine"])} ·
{counts["holds"]} hold, {counts["does not hold"]} do not hold, {counts["inconclusive"]} inconclusive</p>
<table class="toc"><tr><th>study</th><th>verdict</th><th>numbers</th></tr>{toc}</table>
{"".join(_section(r) for r in records)}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index, results
