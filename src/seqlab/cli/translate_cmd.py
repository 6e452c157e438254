"""``seqlab translate RUN TEXT ...``: ``seqlab predict`` for seq2seq runs, under the verb people look for."""

from __future__ import annotations

from .predict_cmd import task_verb

translate = task_verb("translate", "seq2seq", "translate", """Translate each TEXT (or each line of --data / stdin) with the seq2seq run in RUN.

    \b
    Examples:
      seqlab translate runs/m30k "Ein Mann fährt Fahrrad." --beam 5
      seqlab translate runs/ko-en "저는 강사 입니다" --attention attn.png --json
    """)

COMMANDS = [translate]
