"""``seqlab caption RUN IMAGE ...``: ``seqlab predict`` for caption runs, under the verb people look for."""

from __future__ import annotations

from .predict_cmd import task_verb

caption = task_verb("caption", "caption", "caption images", """Caption each IMAGE (PNG/JPEG; .npy for feature runs) with the caption run in RUN.

    \b
    Examples:
      seqlab caption runs/scenes shapes.png --beam 3
      seqlab caption runs/scenes shapes.png --attention att.png --json
      seqlab caption runs/scenes --data "builtin:scenes?split=heldout&n=20"
    """)

COMMANDS = [caption]
