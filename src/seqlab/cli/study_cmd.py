"""``seqlab study``: run the lecture notes' claims as measurements and write a report page."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click


@click.command("study")
@click.argument("name")
@click.option("--quick", is_flag=True, help="Small data and short training (each study about a minute or less).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Report folder (default: seqlab-study).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds data, weights and shuffling.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def study(name, quick, out, seed, as_json):
    """Measure a claim of the lecture notes: NAME is a study, `all`, or `list`.

    Writes OUT/index.html (claim in Korean and English, verdict, numbers, figures, the command to
    reproduce, why it comes out that way), OUT/results.json and one folder of figures and runs per study.

    \b
    Examples:
      seqlab study list
      seqlab study vanishing --quick --out study-report
      seqlab study all --quick --out study-report     # every study, under 10 minutes on 2 cores
    """
    from ..study.registry import STUDIES, get

    if name == "list":
        if as_json:
            click.echo(json.dumps([{"name": s.name, "claim_ko": s.claim_ko, "claim_en": s.claim_en, "threshold": s.threshold,
                                    "quick_s": s.quick_s, "full_s": s.full_s} for s in STUDIES.values()], ensure_ascii=False, indent=1))
            return
        for s in STUDIES.values():
            click.echo(f"{s.name:<16} quick ~{s.quick_s} s, full ~{s.full_s // 60 or 1} min")
            click.echo(f"    「{s.claim_ko}」")
            click.echo(f"    {s.claim_en}")
        return
    from ..study.report import write_report
    from ..study.runner import run_study

    chosen = list(STUDIES.values()) if name == "all" else [get(name)]
    out = out or Path("seqlab-study")
    logging.getLogger("seqlab").setLevel(logging.WARNING)
    records = []
    for s in chosen:
        if not as_json:
            click.echo(f"{s.name}: running ({'quick' if quick else 'full'}, ~{s.quick_s if quick else s.full_s} s) ...", err=True)
        records.append(run_study(s, out, quick, seed, out_label=str(out)))
        if not as_json:
            r = records[-1]
            click.echo(f"{r['name']:<16} {r['verdict']:<14} {r['summary']} ({r['seconds']:.0f} s)")
    index, results = write_report(out, merged_records(out, records))
    if as_json:
        click.echo(json.dumps({"index": str(index), "results": str(results), "studies": records}, ensure_ascii=False, indent=1))
    else:
        click.echo(f"report: {index}")


def merged_records(out: Path, records: list[dict]) -> list[dict]:
    """The new records plus those of other studies already reported in OUT (one study re-run keeps the rest),
    in the registry's order."""
    from ..study.registry import STUDIES

    previous = out / "results.json"
    by_name = {}
    if previous.is_file():
        try:
            by_name = {r["name"]: r for r in json.loads(previous.read_text(encoding="utf-8")).get("studies", [])}
        except (ValueError, KeyError, TypeError):
            by_name = {}
    by_name.update({r["name"]: r for r in records})
    order = list(STUDIES)
    return sorted(by_name.values(), key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))


COMMANDS = [study]
