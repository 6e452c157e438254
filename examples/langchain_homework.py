"""The notes' LangChain homework ("your own file, prompt or API"), done offline with seqlab's own models.

Reads YOUR text file (one sentence a line) and runs a LangChain chain over it:
  (a) classifies each line with a classify run        (SeqlabClassifier, a Runnable)
  (b) translates each line with a seq2seq run         (SeqlabTranslator, a Runnable)
  (c) fills a PromptTemplate with (a) and (b) and continues it with an lm run, streaming (SeqlabLLM)

Runs from the README (LangChain section):
    seqlab train classify --data nsmc --model gru --out runs/nsmc --time-budget 10
    seqlab train seq2seq --data builtin:ko-en --model bahdanau --out runs/ko-en
    seqlab train lm --data tinyshakespeare --model gpt --out runs/shakespeare --time-budget 10
    python examples/langchain_homework.py examples/homework.txt \\
        --classify runs/nsmc --translate runs/ko-en --lm runs/shakespeare

Or against a running server (`seqlab serve runs/nsmc runs/ko-en runs/shakespeare`): pass the served
model names and --url http://127.0.0.1:8000.
"""

from __future__ import annotations

import argparse
import sys
from operator import itemgetter
from pathlib import Path

from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from seqlab.integrations.langchain import SeqlabClassifier, SeqlabLLM, SeqlabTranslator

TEMPLATE = "{translation}. ({label})\n"


def build_chains(classify: str, translate: str, lm: str, url: str | None = None, template: str = TEMPLATE, **llm_options):
    """(analyse, write): ``analyse`` maps {"line"} to {"line", "label", "prob", "translation"};
    ``write`` maps that record through the PromptTemplate to the lm's continuation (stream it)."""
    where = (lambda name: {"url": url, "model": name}) if url else (lambda path: {"run": path})
    classifier = SeqlabClassifier(**where(classify))
    translator = SeqlabTranslator(**where(translate))
    llm = SeqlabLLM(**where(lm), **llm_options)
    analyse = RunnablePassthrough.assign(verdict=itemgetter("line") | classifier,
                                         translation=itemgetter("line") | translator) | RunnableLambda(
        lambda r: {"line": r["line"], "label": r["verdict"]["label"], "prob": r["verdict"]["prob"],
                   "translation": r["translation"]})
    write = PromptTemplate.from_template(template) | llm
    return analyse, write


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Classify, translate and continue the lines of your own text file.")
    ap.add_argument("file", help="your text file: one sentence a line (UTF-8)")
    ap.add_argument("--classify", required=True, help="a classify run folder (or a served model name with --url)")
    ap.add_argument("--translate", required=True, help="a seq2seq run folder (or a served model name)")
    ap.add_argument("--lm", required=True, help="an lm run folder (or a served model name)")
    ap.add_argument("--url", help="use a running `seqlab serve` instead of loading the runs here")
    ap.add_argument("--template", default=TEMPLATE, help="the PromptTemplate for (c); fields: line, label, prob, translation")
    ap.add_argument("--max-new-tokens", type=int, default=120)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    lines = [ln.strip() for ln in Path(a.file).read_text(encoding="utf-8").splitlines() if ln.strip()]
    if not lines:
        print(f"{a.file}: no text lines", file=sys.stderr)
        return 2
    analyse, write = build_chains(a.classify, a.translate, a.lm, a.url, a.template,
                                  max_new_tokens=a.max_new_tokens, top_k=a.top_k, seed=a.seed)
    records = analyse.batch([{"line": ln} for ln in lines])
    for r in records:
        print(f"{r['label']:>10} {r['prob']:.2f}  {r['line']}  ->  {r['translation']}")
    for r in records:
        print(f"\n--- {a.template.format(**r).strip()}")
        for piece in write.stream(r):
            print(piece, end="", flush=True)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
