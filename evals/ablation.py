"""The retrieval ablation: plain baselines, then each lever added, on the dev sets.

    python -m evals.ablation --data-dir data --out evals/results

Writes retrieval-ablation.md (tables), retrieval-ablation.json and retrieval.png. The
tuned parameters are chosen by 5-fold cross-validation over the dev questions of both sets
together (one setting for all sets): each fold's numbers come from parameters chosen on
the other four folds only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import mean, median

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from llama_index.core import QueryBundle  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.retrievers import QueryFusionRetriever  # noqa: E402
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES  # noqa: E402
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.retrievers.bm25 import BM25Retriever  # noqa: E402

from evals.corpus import engine_for_corpus  # noqa: E402
from evals.metrics import hit_curve, retrieval_metrics  # noqa: E402
from evals.runner import load_cases  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.engine import RagEngine  # noqa: E402
from rag.retrieve import Retriever  # noqa: E402
from rag.store.faiss.corpus import FaissCorpus  # noqa: E402

SETS = {"squad-v2": "squad-v2", "hotpotqa": "hotpotqa"}
K = 10
FOLDS = 5
KEYS = ("hit@1", "hit@4", "hit@10", "full_recall@10", "mrr@10")

# Each lever switched on in turn; the last row is the default in Settings.
LEVERS: list[tuple[str, dict]] = [
    (
        "hybrid: weighted dense + BM25",
        dict(weight_sentence_dense=0, weight_sentence_bm25=0, title_boost=0, hop_parents=0),
    ),
    ("+ best-sentence BM25", dict(weight_sentence_dense=0, title_boost=0, hop_parents=0)),
    ("+ best-sentence dense", dict(title_boost=0, hop_parents=0)),
    ("+ titles named in the question", dict(hop_parents=0)),
    ("+ second hop by titles (default)", {}),
]
# The grid the folds choose from: fusion weights (dense, BM25, sentence dense, sentence
# BM25) and the second hop's weight.
WEIGHTS = [
    (0.4, 0.6, 0, 0),
    (0.3, 0.4, 0.3, 0.3),
    (0.1, 0.3, 0.3, 0.3),
    (0.1, 0.4, 0.3, 0.2),
    (0.2, 0.4, 0.2, 0.2),
    (0.3, 0.3, 0.2, 0.4),
]
GRID = [
    dict(
        weight_dense=d,
        weight_bm25=b,
        weight_sentence_dense=sd,
        weight_sentence_bm25=sb,
        hop_weight=h,
    )
    for (d, b, sd, sb), h in itertools.product(WEIGHTS, (0.3, 0.5, 0.7))
]

Ranker = Callable[[int], tuple[list[str], float]]  # question index → passage texts, ms


def _metrics(texts: list[str], evidence: list[str]) -> dict[str, float]:
    found = retrieval_metrics(texts, evidence, K) | {"hit@4": hit_curve(texts, evidence, K)[3]}
    return {key: found[key] for key in KEYS}


class DevSet:
    """One dev set's questions (those with evidence), embedded once, over its cached index."""

    def __init__(self, name: str, datasets: Path, settings: Settings) -> None:
        self.name = name
        folder = datasets / SETS[name]
        self.cases = [c for c in load_cases(folder / "dev.jsonl") if c.get("evidence")]
        engine: RagEngine = engine_for_corpus(folder / "corpus", settings, show_progress=True)[0]
        self.index = engine.load_index()
        self.retriever = Retriever(self.index, settings)
        self.questions = [c["question"] for c in self.cases]
        self.vectors: list[np.ndarray] = []
        self.embed_ms: list[float] = []
        for question in self.questions:
            started = time.perf_counter()
            vector = engine.embed_model.get_query_embedding(question)
            self.embed_ms.append((time.perf_counter() - started) * 1000)
            self.vectors.append(np.asarray(vector, np.float32))

    def run(self, ranker: Ranker) -> list[dict]:
        """Per question: metrics and query latency (embedding included)."""
        rows = []
        for i, case in enumerate(self.cases):
            texts, ms = ranker(i)
            rows.append(_metrics(texts, case["evidence"]) | {"ms": ms + self.embed_ms[i]})
        return rows

    def ours(self, settings: Settings) -> Ranker:
        def rank(i: int) -> tuple[list[str], float]:
            self.retriever.settings = settings
            passages, timings = self.retriever.search(self.questions[i], self.vectors[i], K)
            return [p.text for p in passages], timings["search"]

        return rank

    def baselines(self) -> dict[str, Ranker]:
        """The plain baselines of the issue, built from llama-index blocks."""
        nodes = list(self.index.index.docstore.docs.values())
        dense = self.index.index.as_retriever(similarity_top_k=K)
        bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=K)
        rrf = QueryFusionRetriever(
            [dense, bm25],
            llm=MockLLM(),  # never called with num_queries=1; keeps Settings.llm (OpenAI) away
            mode=FUSION_MODES.RECIPROCAL_RANK,
            num_queries=1,
            similarity_top_k=K,
            use_async=False,
        )

        def using(retriever) -> Ranker:
            def rank(i: int) -> tuple[list[str], float]:
                bundle = QueryBundle(self.questions[i], embedding=self.vectors[i].tolist())
                started = time.perf_counter()
                hits = retriever.retrieve(bundle)
                return [h.node.get_content() for h in hits], (time.perf_counter() - started) * 1000

            return rank

        return {"dense (FAISS flat)": using(dense), "BM25 (bm25s)": using(bm25), "RRF": using(rrf)}


def latency_at_scale(dev: DevSet, settings: Settings, size: int) -> dict[str, float]:
    """Warm `retrieve` latency (ms) over `size` chunks: the set's chunks repeated under new
    ids, with their stored vectors (nothing re-embedded), and the dev questions."""
    never_persisted = Path(tempfile.gettempdir()) / "rag-scale-test"
    corpus = FaissCorpus.create(never_persisted, dev.index.embed_model, "scale-test")
    originals = list(dev.index.index.docstore.docs.values())
    copies = []
    for n in range(size):
        node = originals[n % len(originals)]
        copy = f"{n // len(originals)}:"
        copies.append(
            TextNode(
                id_=copy + node.node_id,
                text=node.get_content(),
                metadata=node.metadata,
                start_char_idx=node.start_char_idx,
                end_char_idx=node.end_char_idx,
                relationships={
                    NodeRelationship.SOURCE: RelatedNodeInfo(node_id=copy + (node.ref_doc_id or ""))
                },
                embedding=dev.index.chunk_vectors([node.node_id])[0].tolist(),
            )
        )
        corpus.sentences.spans[copy + node.node_id] = dev.index.sentences.spans[node.node_id]
        corpus.sentences.vectors[copy + node.node_id] = dev.index.sentences.vectors[node.node_id]
    corpus.index.insert_nodes(copies)
    retriever = Retriever(corpus, settings)
    timings = [retriever.retrieve(q, K)[1] for q in dev.questions[:20] + dev.questions]
    warm = timings[20:]
    return {stage: round(median(t[stage] for t in warm), 2) for stage in warm[0]} | {
        "chunks": corpus.chunk_count,
        "total": round(median(t["embed"] + t["search"] for t in warm), 2),
    }


def summarize(rows: list[dict]) -> dict[str, float]:
    summary = {key: round(mean(r[key] for r in rows), 3) for key in KEYS}
    return summary | {"p50_ms": round(median(r["ms"] for r in rows), 1)}


def _objective(per_set: dict[str, list[dict]], left_out: int | None = None) -> float:
    """The goal metrics, both sets weighted equally: hit@1 + full recall@10 (one fold left out)."""
    return mean(
        mean(r["hit@1"] + r["full_recall@10"] for i, r in enumerate(rows) if i % FOLDS != left_out)
        for rows in per_set.values()
    )


def cross_validate(sets: list[DevSet]) -> dict:
    """Each fold scored with the grid point that is best on the other folds."""
    runs = [{s.name: s.run(s.ours(Settings(**point))) for s in sets} for point in GRID]
    held_out: dict[str, list[dict]] = {s.name: [] for s in sets}
    chosen = []
    for fold in range(FOLDS):
        scores = [_objective(run, fold) for run in runs]
        best = int(np.argmax(scores))
        chosen.append(GRID[best])
        for s in sets:
            held_out[s.name] += [r for i, r in enumerate(runs[best][s.name]) if i % FOLDS == fold]
    on_all = int(np.argmax([_objective(run) for run in runs]))
    return {
        "chosen_per_fold": chosen,
        "best_on_all_dev": GRID[on_all],
        "held_out": {name: summarize(rows) for name, rows in held_out.items()},
        "all_dev_with_best": {s.name: summarize(runs[on_all][s.name]) for s in sets},
    }


def _table(results: dict[str, dict[str, dict]]) -> str:
    lines = [
        "| configuration | " + " | ".join(KEYS) + " | p50 ms |",
        "|---" * (len(KEYS) + 2) + "|",
    ]
    for config, summary in results.items():
        cells = [f"{summary[key]:.3f}" for key in KEYS] + [f"{summary['p50_ms']:.1f}"]
        lines.append(f"| {config} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot(results: dict[str, dict[str, dict]], path: Path) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), sharey=True)
    for ax, (name, rows) in zip(np.atleast_1d(axes), results.items(), strict=True):
        configs = list(rows)
        y = np.arange(len(configs))
        for offset, key in ((-0.2, "hit@1"), (0.2, "full_recall@10")):
            ax.barh(y + offset, [rows[c][key] for c in configs], height=0.4, label=key)
        ax.set_yticks(y, configs)
        ax.invert_yaxis()
        ax.set_xlim(0.5, 1.0)
        ax.set_title(name)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=Path("evals/results"))
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir)
    sets = [DevSet(name, args.datasets, settings) for name in SETS]
    results: dict[str, dict[str, dict]] = {}
    for s in sets:
        rows = {name: summarize(s.run(rank)) for name, rank in s.baselines().items()}
        for name, overrides in LEVERS:
            rows[name] = summarize(s.run(s.ours(settings.model_copy(update=overrides))))
        results[s.name] = rows
    cv = cross_validate(sets)
    scale = latency_at_scale(sets[-1], settings, 10_000)
    report = [f"## {name} (dev, top {K})\n\n{_table(rows)}\n" for name, rows in results.items()]
    report.append(
        f"## {FOLDS}-fold cross-validation over {len(GRID)} grid points\n\n"
        f"Held-out folds (parameters chosen on the other folds):\n\n{_table(cv['held_out'])}\n\n"
        f"Best grid point on all of dev: `{cv['best_on_all_dev']}`\n\n"
        "Chosen per fold:\n\n" + "\n".join(f"- `{c}`" for c in cv["chosen_per_fold"]) + "\n"
    )
    report.append(
        f"## Query latency at {scale['chunks']} chunks (warm, ms, median over hotpotqa questions)"
        "\n\n| "
        + " | ".join(scale)
        + " |\n"
        + "|---" * len(scale)
        + "|\n| "
        + " | ".join(str(v) for v in scale.values())
        + " |\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval-ablation.md").write_text("\n".join(report))
    (args.out / "retrieval-ablation.json").write_text(
        json.dumps({"results": results, "cross_validation": cv, "latency_10k": scale}, indent=2)
    )
    _plot(results, args.out / "retrieval.png")
    print("\n".join(report))


if __name__ == "__main__":
    main()
