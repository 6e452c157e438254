"""Built-in sequence-to-sequence datasets: generated here, deterministic for a seed, no download.

- ``reverse``: a sequence of symbols and the same sequence backwards (``3 1 4 1 5 -> 5 1 4 1 3``).
  Easy with attention (position j of the output looks at position S-1-j of the input), hard for a
  plain context vector as sequences grow: the notes' "멀수록 잊혀진다" in a toy.
- ``dates``: a date written the ways people write it (``saturday, march 7 2009``, ``07.03.09``,
  ``7 Mar 2009``) and its ISO form (``2009-03-07``); character-level.
- ``ko-en``: Korean template sentences and their English translation, starting from the notes'
  ``저는 강사 입니다 -> I am an instructor``: verb-final Korean against verb-second English.

Each generator returns ``{"src": [str], "tgt": [str], "tokenizer": KIND}``; ``tokenizer`` is the
tokenizer the task uses when the user names none (these sets are too small for BPE to help).
"""

from __future__ import annotations

import datetime
import random

from .params import int_param


def reverse(params: dict, seed: int) -> dict:
    """``n`` sequences of ``min_len``..``max_len`` symbols from a ``vocab``-symbol alphabet, reversed."""
    n = int_param(params, "n", 4000, 1)
    lo = int_param(params, "min_len", 3, 1, 500)
    hi = int_param(params, "max_len", 8, lo, 500)
    vocab = int_param(params, "vocab", 10, 2, 1000)
    rng = random.Random(f"reverse-{seed}-{n}-{lo}-{hi}-{vocab}")
    symbols = [str(k) for k in range(vocab)]
    src, tgt = [], []
    for _ in range(n):
        seq = [rng.choice(symbols) for _ in range(rng.randint(lo, hi))]
        src.append(" ".join(seq))
        tgt.append(" ".join(reversed(seq)))
    return {"src": src, "tgt": tgt, "tokenizer": "word"}


_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _human_date(d: datetime.date, rng: random.Random) -> str:
    month, day = _MONTHS[d.month - 1], _DAYS[d.weekday()]
    forms = [
        f"{day}, {month} {d.day} {d.year}",
        f"{month} {d.day}, {d.year}",
        f"{d.day} {month[:3]} {d.year}",
        f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",
        f"{d.month}/{d.day}/{d.year}",
        f"{d.day} {month} {d.year}",
        f"{month[:3]} {d.day:02d} {d.year}",
    ]
    text = rng.choice(forms)
    return text.upper() if rng.random() < 0.1 else text


def dates(params: dict, seed: int) -> dict:
    """``n`` dates between 1950 and 2049 in seven human formats -> ``YYYY-MM-DD``."""
    n = int_param(params, "n", 5000, 1)
    rng = random.Random(f"dates-{seed}-{n}")
    start, span = datetime.date(1950, 1, 1).toordinal(), 365 * 100
    src, tgt = [], []
    for _ in range(n):
        d = datetime.date.fromordinal(start + rng.randrange(span))
        src.append(_human_date(d, rng))
        tgt.append(d.isoformat())
    return {"src": src, "tgt": tgt, "tokenizer": "char"}


# (Korean, English, English-article) occupations; the notes' own sentence is the first.
_JOBS = [("강사", "instructor", "an"), ("학생", "student", "a"), ("의사", "doctor", "a"), ("요리사", "cook", "a"),
         ("가수", "singer", "a"), ("엔지니어", "engineer", "an"), ("경찰관", "police officer", "a"),
         ("선생님", "teacher", "a"), ("작가", "writer", "a"), ("간호사", "nurse", "a"), ("화가", "painter", "a"),
         ("농부", "farmer", "a"), ("배우", "actor", "an"), ("변호사", "lawyer", "a"), ("기자", "reporter", "a")]
# (Korean topic, English subject, third person singular?)
_SUBJ = [("저는", "I", False), ("그는", "he", True), ("그녀는", "she", True), ("당신은", "you", False),
         ("제 친구는", "my friend", True), ("우리 언니는", "my sister", True), ("민수는", "Minsu", True)]
_BE = {"I": "am", "you": "are"}
# (Korean object with particle, English object)
_OBJ = [("사과를", "apples"), ("커피를", "coffee"), ("책을", "books"), ("음악을", "music"), ("영화를", "movies"),
        ("축구를", "soccer"), ("고양이를", "cats"), ("김치를", "kimchi"), ("비를", "rain"), ("여행을", "travel")]
_VERB = [("좋아합니다", "like", "likes"), ("싫어합니다", "hate", "hates"), ("원합니다", "want", "wants")]
_PLACE = [("학교에", "to school"), ("병원에", "to the hospital"), ("서울에", "to Seoul"), ("집에", "home"),
          ("도서관에", "to the library"), ("공원에", "to the park"), ("회사에", "to work"), ("시장에", "to the market")]
_WHEN = [("매일", "every day"), ("오늘", "today"), ("내일", "tomorrow"), ("자주", "often"), ("주말에", "on weekends")]


def _ko_en(rng: random.Random) -> tuple[str, str]:
    ko_s, en_s, third = rng.choice(_SUBJ)
    kind = rng.random()
    if kind < 0.4:  # 저는 강사 입니다 -> I am an instructor
        ko_j, en_j, art = rng.choice(_JOBS)
        be = _BE.get(en_s, "is")
        return f"{ko_s} {ko_j} 입니다", f"{en_s[0].upper() + en_s[1:]} {be} {art} {en_j}"
    if kind < 0.7:  # 저는 커피를 좋아합니다 -> I like coffee
        ko_o, en_o = rng.choice(_OBJ)
        ko_v, en_v, en_v3 = rng.choice(_VERB)
        en = f"{en_s} {en_v3 if third else en_v} {en_o}"
        if rng.random() < 0.5:
            ko_w, en_w = rng.choice(_WHEN)
            return f"{ko_s} {ko_w} {ko_o} {ko_v}", f"{en[0].upper() + en[1:]} {en_w}"
        return f"{ko_s} {ko_o} {ko_v}", en[0].upper() + en[1:]
    ko_p, en_p = rng.choice(_PLACE)  # 그는 내일 학교에 갑니다 -> He goes to school tomorrow
    ko_w, en_w = rng.choice(_WHEN)
    en = f"{en_s} {'goes' if third else 'go'} {en_p} {en_w}"
    return f"{ko_s} {ko_w} {ko_p} 갑니다", en[0].upper() + en[1:]


def ko_en(params: dict, seed: int) -> dict:
    """``n`` Korean -> English template sentence pairs (occupations, likes, going places)."""
    n = int_param(params, "n", 3000, 1)
    rng = random.Random(f"ko-en-{seed}-{n}")
    pairs = [("저는 강사 입니다", "I am an instructor")] + [_ko_en(rng) for _ in range(n - 1)]
    return {"src": [p[0] for p in pairs], "tgt": [p[1] for p in pairs], "tokenizer": "word"}


# name -> (description, documented parameters, generator); builtin.py wraps them as Builtin records
SPECS = {
    "reverse": ("a sequence of symbols -> the same sequence reversed (attention toy)",
                "n=4000, min_len=3, max_len=8, vocab=10", reverse),
    "dates": ("dates in seven human formats -> ISO YYYY-MM-DD (character level)", "n=5000", dates),
    "ko-en": ("Korean template sentences -> English (저는 강사 입니다 -> I am an instructor)", "n=3000", ko_en),
}
