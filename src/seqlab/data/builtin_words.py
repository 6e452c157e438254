"""``builtin:analogies``: a text corpus with planted word relations, for the ``embed`` task.

Eight word pairs share one relation (male -> female: king/queen, man/woman, ...). Each sentence holds
one pair word, ``topic`` words of that pair's own topic (``t3a``, ``t3b``, ...: what the word is about),
``gender`` words of its gender's set (``gm*`` or ``gf*``: the relation), and a few function words, in
random order. A word's contexts are then the sum of a topic part and a gender part, so good vectors put
each topic's words together (nearest neighbours) and make queen - king + man land on woman (3CosAdd).
The corpus lists its own analogy questions (every ordered pair of pairs) and the topic of every word.
"""

from __future__ import annotations

import itertools
import random

from .params import int_param

PAIRS = [("king", "queen"), ("man", "woman"), ("boy", "girl"), ("prince", "princess"),
         ("father", "mother"), ("uncle", "aunt"), ("brother", "sister"), ("actor", "actress")]
FUNCTION = ("the", "a", "of", "and", "to")


def analogies(params: dict, seed: int) -> dict:
    """``{"text": one sentence per line, "analogies": [(a, b, c, d)], "groups": {word: topic}}``."""
    n = int_param(params, "n", 4000, 10)
    topic_words = int_param(params, "topic", 4, 1, 50)
    gender_words = int_param(params, "gender", 4, 1, 50)
    rng = random.Random(f"analogies-{seed}-{n}-{topic_words}-{gender_words}")
    topics = [[f"t{i}{chr(97 + j)}" for j in range(topic_words)] for i in range(len(PAIRS))]
    genders = [[f"g{g}{j}" for j in range(gender_words)] for g in "mf"]
    lines = []
    for k in range(n):
        i, g = rng.randrange(len(PAIRS)), rng.randrange(2)
        words = [PAIRS[i][g]] + rng.sample(topics[i], min(2, topic_words)) + rng.sample(genders[g], min(2, gender_words))
        words += rng.sample(FUNCTION, 2)
        rng.shuffle(words)
        lines.append(" ".join(words))
    questions = [(a, b, c, d) for (a, b), (c, d) in itertools.permutations(PAIRS, 2)]
    groups = {w: f"topic{i}" for i, p in enumerate(PAIRS) for w in list(p) + topics[i]}
    return {"text": "\n".join(lines) + "\n", "analogies": questions, "groups": groups}
