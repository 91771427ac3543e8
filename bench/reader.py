"""What the reader costs a question: its features and scores over the rules' candidates.

Usage: python -m bench.reader [--questions SET.jsonl] [--corpus DIR] [--repeat 20]
Passages are retrieved once per question (as `rag ask` retrieves them); then the rules'
ranking and the reader's judgement are timed apart, warm. Writes bench/results/reader.json
and reader.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import DATASETS, machine, percentiles, results_dir
from evals.corpus import engine_for_corpus
from evals.runner import load_cases
from rag.answer.ranking import rank
from rag.config import Settings
from rag.reader.decide import judge

SQUAD = DATASETS / "squad-v2"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=SQUAD / "dev.jsonl")
    parser.add_argument("--corpus", type=Path, default=SQUAD / "corpus")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    engine, _ = engine_for_corpus(args.corpus, Settings(data_dir=args.data_dir))
    questions = [c.get("question") or c["turns"][-1] for c in load_cases(args.questions)]
    retrieved = [engine.retrieve(q) for q in questions]
    ranking_ms, reader_ms = [], []
    for _ in range(args.repeat):
        for question, passages in zip(questions, retrieved, strict=True):
            started = time.perf_counter()
            ranked = rank(question, passages)
            ranked_at = time.perf_counter()
            judge(question, ranked)
            ranking_ms.append((ranked_at - started) * 1000)
            reader_ms.append((time.perf_counter() - ranked_at) * 1000)
    result = {
        "questions": len(questions),
        "set": args.questions.parent.name,
        "repeat": args.repeat,
        "machine": machine(),
        "rules_ranking_ms": percentiles(ranking_ms),
        "reader_ms": percentiles(reader_ms),
    }
    out = results_dir()
    (out / "reader.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "reader.md").write_text(
        "# The reader's cost per question (warm, after retrieval)\n\n"
        f"{result['questions']} questions of {result['set']} dev, {args.repeat} repeats; "
        f"{result['machine']['cpu']}, {result['machine']['cores']} cores.\n\n"
        "| step | p50 ms | p95 ms |\n|---|---|---|\n"
        f"| rules' ranking of the candidates | {result['rules_ranking_ms']['p50']} | "
        f"{result['rules_ranking_ms']['p95']} |\n"
        f"| reader: features of the 20 best and their scores | {result['reader_ms']['p50']} | "
        f"{result['reader_ms']['p95']} |\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
