"""Synthesizer latency after retrieval: passages are retrieved once, then synthesis is timed.

Usage: python -m bench.synthesizer [--corpus seeds] [--data-dir data] [--repeat 50]
Writes bench/results/synthesizer.json and .md. "first" is each question's first synthesis
in the process (sentences not yet split and stemmed), "warm" the repeats after it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from statistics import mean

from evals.corpus import engine_for_corpus
from evals.runner import load_cases
from rag.answer import extractive
from rag.config import Settings
from rag.retrieve import Retriever

RESULTS = Path(__file__).resolve().parent / "results"
QUESTIONS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "seed" / "dev.jsonl"


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("seeds"))
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    settings = Settings(data_dir=args.data_dir)
    engine, _ = engine_for_corpus(args.corpus, settings)
    retriever = Retriever(engine.load_index(), settings)
    questions = [c.get("question") or c["turns"][-1] for c in load_cases(args.questions)]
    retrieved = [retriever.retrieve(q, args.k)[0] for q in questions]

    def synthesize_ms(question: str, passages: list) -> float:
        started = time.perf_counter()
        extractive.synthesize(
            question,
            passages,
            settings.max_answer_sentences,
            settings.min_score,
            settings.min_coverage,
        )
        return (time.perf_counter() - started) * 1000

    first = [synthesize_ms(q, p) for q, p in zip(questions, retrieved, strict=True)]
    warm = [
        synthesize_ms(q, p)
        for _ in range(args.repeat)
        for q, p in zip(questions, retrieved, strict=True)
    ]
    result = {
        "corpus": str(args.corpus),
        "questions": len(questions),
        "k": args.k,
        "repeat": args.repeat,
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
        "first_ms": {"p50": _ms(first, 0.5), "p95": _ms(first, 0.95), "max": round(max(first), 3)},
        "warm_ms": {"p50": _ms(warm, 0.5), "p95": _ms(warm, 0.95), "mean": round(mean(warm), 3)},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "synthesizer.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "synthesizer.md").write_text(
        "# Extractive synthesizer latency (after retrieval)\n\n"
        f"{result['questions']} questions of `{args.questions.name}` on `{args.corpus}`, "
        f"top-{args.k} passages, {args.repeat} warm repeats; {result['machine']}.\n\n"
        "| pass | p50 ms | p95 ms |\n|---|---|---|\n"
        f"| first | {result['first_ms']['p50']} | {result['first_ms']['p95']} |\n"
        f"| warm | {result['warm_ms']['p50']} | {result['warm_ms']['p95']} |\n"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
