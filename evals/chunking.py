"""Chunk size and overlap on the dev sets: each setting gets its own index, same retriever.

    python -m evals.chunking --data-dir data --grid 200/20 200/40 --screen 128/32 256/32

A setting is `size/overlap` in cl100k tokens. Each one indexes the dev corpora once (cached
under the data dir by fingerprint, which holds the chunk settings, like any eval corpus),
then ranks the dev questions with the default retriever of `Settings`. `--grid` settings
run on every set and are also chosen by 5-fold cross-validation (the folds of
`evals.ablation`): each fold is scored with the setting that is best on the other four.
`--screen` settings run on the first set only (squad-v2: a hotpotqa re-embed takes ~7
minutes per setting on 2 cores). Writes retrieval-chunking.md and retrieval-chunking.json.
"""

from __future__ import annotations

import argparse
import gc
import json
from pathlib import Path

import numpy as np

from evals.ablation import FOLDS, SETS, DevSet, _objective, _table, summarize
from rag.config import Settings


def parse_setting(text: str) -> tuple[int, int]:
    """`size/overlap` → (size, overlap)."""
    size, overlap = text.split("/")
    return int(size), int(overlap)


def rank_all(
    grid: list[tuple[int, int]], names: list[str], datasets: Path, settings: Settings
) -> dict[str, dict[str, list[dict]]]:
    """Per setting (`size/overlap`) and set: the per-question rows of the default retriever.

    One index is loaded at a time (hotpotqa's sentence vectors are ~20 MiB per setting).
    """
    runs: dict[str, dict[str, list[dict]]] = {}
    for size, overlap in grid:
        chunked = settings.model_copy(update=dict(chunk_size=size, chunk_overlap=overlap))
        runs[f"{size}/{overlap}"] = rows = {}
        for name in names:
            dev = DevSet(name, datasets, chunked)
            rows[name] = dev.run(dev.ours(chunked))
            print(f"{size}/{overlap} {name}: {summarize(rows[name])}", flush=True)
            del dev
            gc.collect()
    return runs


def cross_validate(runs: dict[str, dict[str, list[dict]]]) -> dict:
    """Each fold scored with the setting that is best on the other folds."""
    names = list(runs)
    held_out: dict[str, list[dict]] = {name: [] for name in next(iter(runs.values()))}
    chosen = []
    for fold in range(FOLDS):
        best = names[int(np.argmax([_objective(runs[n], fold) for n in names]))]
        chosen.append(best)
        for name, rows in runs[best].items():
            held_out[name] += [r for i, r in enumerate(rows) if i % FOLDS == fold]
    scores = {n: round(_objective(runs[n]), 4) for n in names}
    return {
        "chosen_per_fold": chosen,
        "objective_on_all_dev": scores,
        "best_on_all_dev": max(scores, key=lambda n: scores[n]),
        "held_out": {name: summarize(rows) for name, rows in held_out.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=Path("evals/results"))
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--grid", nargs="+", type=parse_setting, required=True)
    parser.add_argument("--screen", nargs="*", type=parse_setting, default=[])
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    runs = rank_all(args.grid, args.sets, args.datasets, settings)
    screened = rank_all(args.screen, args.sets[:1], args.datasets, settings)
    results = {
        name: {
            setting: summarize(per_set[name])
            for setting, per_set in (runs | screened).items()
            if name in per_set
        }
        for name in args.sets
    }
    report = [f"## {name} (dev, top 10)\n\n{_table(rows)}\n" for name, rows in results.items()]
    cv = cross_validate(runs) if len(args.sets) == len(SETS) else None
    if cv:
        report.append(
            f"## {FOLDS}-fold cross-validation over {len(runs)} settings\n\n"
            f"Held-out folds (setting chosen on the other folds):\n\n{_table(cv['held_out'])}\n\n"
            f"Objective (hit@1 + full recall@10, sets weighted equally) on all of dev: "
            f"`{cv['objective_on_all_dev']}`\n\nChosen per fold: `{cv['chosen_per_fold']}`\n"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval-chunking.md").write_text("\n".join(report))
    (args.out / "retrieval-chunking.json").write_text(
        json.dumps({"results": results, "cross_validation": cv}, indent=2)
    )
    print("\n".join(report))


if __name__ == "__main__":
    main()
