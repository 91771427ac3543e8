"""Calibrate RAG_MIN_SUPPORT: how the citation check scores right and wrong citations.

Each extractive answer's quoted sentence is cited once to its own passage (right) and once to
every other retrieved passage that does not hold it (wrong); the share of each that passes
is printed per threshold. `python -m evals.support_calibration` (seed and squad-v2 dev sets,
their cached indexes under RAG_DATA_DIR/eval-corpora/).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evals.corpus import engine_for_corpus
from rag.answer.verify import Verifier
from rag.config import Settings

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS = [
    (DATASETS / "seed" / "dev.jsonl", Path("seeds"), 11),
    (DATASETS / "squad-v2" / "dev.jsonl", DATASETS / "squad-v2" / "corpus", 80),
]


def support_scores(settings: Settings) -> tuple[list[float], list[float]]:
    """Support of right and of wrong citations (-1: rejected before scoring, e.g. a name)."""
    right: list[float] = []
    wrong: list[float] = []
    for question_set, corpus, limit in SETS:
        engine, _ = engine_for_corpus(corpus, settings)
        lines = question_set.read_text(encoding="utf-8").splitlines()[:limit]
        for case in map(json.loads, lines):
            if not case.get("answerable", True) or "question" not in case:
                continue
            answer = engine.ask(case["question"], k=5)
            verifier = Verifier(answer.retrieved, engine.embed, 0.0)
            for citation in [] if answer.refused else answer.citations:
                for n, passage in enumerate(answer.retrieved, start=1):
                    verdict = verifier.check(f"{citation.quote.splitlines()[0]} [{n}]")
                    score = -1.0 if verdict.support is None else verdict.support
                    (right if citation.quote in passage.text else wrong).append(score)
    return right, wrong


def main() -> None:
    right, wrong = (np.array(s) for s in support_scores(Settings()))
    print(f"right citations: {len(right)}, lowest support {right.min():.2f}")
    print(f"wrong citations: {len(wrong)}, {(wrong < 0).mean():.0%} rejected by name/number")
    for threshold in (0.5, 0.55, 0.6, 0.65, 0.7):
        print(
            f"min_support {threshold:.2f}: right pass {(right >= threshold).mean():.3f}, "
            f"wrong pass {(wrong >= threshold).mean():.3f}"
        )


if __name__ == "__main__":
    main()
