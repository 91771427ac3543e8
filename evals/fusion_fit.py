"""Fit the four fusion weights on SQuAD 2.0's training split, cross-validated by paragraph.

    python -m evals.fusion_fit [--train TRAIN.jsonl] [--corpus DIR] [--dev DEV.jsonl]

Every answerable question is retrieved once; each first-round candidate keeps its four
normalised signals (`Retriever.fusion_signals`), so any weighting is scored without
retrieving again: a candidate holds the evidence when an evidence sentence stands in its
text, as `rag eval` counts hit@k. The grid is every weighting in steps of 0.1 with each
weight at least 0.1. Each of 5 folds (questions of one paragraph in one fold) picks the best
weighting on the other four by hit@1 + hit@10 and is scored with it; dev is scored with the
weighting chosen on all of train. Title boosts and second hops are left out: they move few
SQuAD candidates, and the weights are what this fits.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.corpus import engine_for_corpus
from evals.metrics import held_snippets
from rag.config import Settings
from rag.retrieve import fusion_weights

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "squad-v2"
FOLDS = 5
GRID = [
    w
    for w in itertools.product(*[[round(0.1 * n, 1) for n in range(1, 8)]] * 4)
    if abs(sum(w) - 1.0) < 1e-6
]


@dataclass(frozen=True)
class Candidates:
    """One question's first-round candidates: signals (rows) and which hold its evidence."""

    signals: np.ndarray
    relevant: np.ndarray
    group: tuple[str, str]  # its paragraph: the cross-validation group


def collect(question_set: Path, corpus: Path, settings: Settings) -> list[Candidates]:
    """Every answerable question's candidates, retrieved once."""
    from tqdm.auto import tqdm

    engine, _ = engine_for_corpus(corpus, settings)
    index = engine.load_index()
    retriever = engine.retriever(index)
    cases = [json.loads(line) for line in question_set.read_text(encoding="utf-8").splitlines()]
    cases = [c for c in cases if c.get("answerable", True) and c.get("evidence")]
    vectors = engine.embed([c["question"] for c in cases])
    found = []
    for case, vector in tqdm(list(zip(cases, vectors, strict=True)), desc=question_set.name):
        fused = retriever.fusion_signals(case["question"], vector)
        texts = {n.node_id: n.get_content() for n in index.nodes(fused.chunk_ids)}
        relevant = [
            bool(held_snippets(texts.get(c, ""), case["evidence"])) for c in fused.chunk_ids
        ]
        paragraph = json.dumps(case.get("paragraph") or case["evidence"][0])
        found.append(
            Candidates(fused.signals, np.array(relevant, bool), (case["source_ids"][0], paragraph))
        )
    return found


def hits(questions: list[Candidates], weights: tuple[float, ...]) -> tuple[float, float]:
    """hit@1 and hit@10 of the weighted sum of the signals."""
    if not questions:
        return 0.0, 0.0
    w = np.asarray(weights)
    first = ten = 0
    for q in questions:
        order = np.argsort(-(q.signals @ w), kind="stable")
        first += bool(q.relevant[order[:1]].any())
        ten += bool(q.relevant[order[:10]].any())
    return first / len(questions), ten / len(questions)


def best(questions: list[Candidates]) -> tuple[float, ...]:
    return max(GRID, key=lambda w: sum(hits(questions, w)))


def cross_validate(questions: list[Candidates], default: tuple[float, ...]) -> list[dict]:
    """Per fold: the weighting its training folds choose, and both weightings' held-out hits."""
    names = {g: n for n, g in enumerate(dict.fromkeys(q.group for q in questions))}
    fold = [names[q.group] % FOLDS for q in questions]
    rows = []
    for f in range(FOLDS):
        train = [q for q, k in zip(questions, fold, strict=True) if k != f]
        held_out = [q for q, k in zip(questions, fold, strict=True) if k == f]
        chosen = best(train)
        rows.append(
            {
                "fold": f,
                "chosen": chosen,
                "chosen_hits": hits(held_out, chosen),
                "default_hits": hits(held_out, default),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, default=DATASETS / "train.jsonl")
    parser.add_argument("--dev", type=Path, default=DATASETS / "dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=DATASETS / "corpus")
    args = parser.parse_args(argv)

    settings = Settings()
    default = fusion_weights(settings)
    train = collect(args.train, args.corpus, settings)
    dev = collect(args.dev, args.corpus, settings)
    print("| fold | chosen on the other folds | its hit@1 / hit@10 | default's hit@1 / hit@10 |")
    print("|---|---|---|---|")
    for row in cross_validate(train, default):
        chosen, theirs = _pair(row["chosen_hits"]), _pair(row["default_hits"])
        print(f"| {row['fold']} | {row['chosen']} | {chosen} | {theirs} |")
    for name, weights in (("default", default), ("fit on all of train", best(train))):
        train_hits, dev_hits = _pair(hits(train, weights)), _pair(hits(dev, weights))
        print(f"{name} {weights}: train hit@1 / hit@10 {train_hits}; dev {dev_hits}")
    return 0


def _pair(values: tuple[float, float]) -> str:
    return f"{values[0]:.3f} / {values[1]:.3f}"


if __name__ == "__main__":
    raise SystemExit(main())
