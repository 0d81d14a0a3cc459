"""A small deterministic English-like corpus for tests of the default lab (no network)."""

from __future__ import annotations

import random
from pathlib import Path

SPEAKERS = ("HAMLET", "OPHELIA", "HORATIO", "GERTRUDE", "POLONIUS", "LAERTES")
SUBJECTS = ("the king", "my lord", "the night", "this sword", "a ghost", "the sea",
            "your father", "the queen", "our state", "the crown")
VERBS = ("doth walk", "shall speak", "hath seen", "must fall", "will rise", "did weep",
         "may stay", "cannot sleep")
ENDINGS = ("upon the walls", "before the dawn", "in silence", "with honour",
           "for all our sakes", "and bid farewell", "without a word", "to Denmark")


def corpus_text(size: int = 200_000, seed: int = 0) -> str:
    """About `size` characters of play-shaped text: speaker lines and short sentences."""
    rng = random.Random(seed)
    parts, length = [], 0
    while length < size:
        lines = [f"{rng.choice(SPEAKERS)}."]
        for _ in range(rng.randint(1, 4)):
            sentence = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(ENDINGS)}"
            lines.append(sentence[0].upper() + sentence[1:] + rng.choice(".!?;,"))
        block = "\n".join(lines) + "\n\n"
        parts.append(block)
        length += len(block)
    return "".join(parts)


def write_corpus(path: Path, size: int = 200_000, seed: int = 0) -> Path:
    path.write_text(corpus_text(size, seed))
    return path
