"""Gathers the benchmarks' JSON into latest.json, README.md and two plots.

python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on the bench machine
import matplotlib.pyplot as plt  # noqa: E402

from bench.common import commit, machine, results_dir  # noqa: E402

HEADLINE = (
    "ingest_vs_limit",
    "ingest_vs_llamaindex",
    "ask_p50_ms_10k",
    "ask_p50_ms_1m",
    "cold_ask_s",
    "rss_gib_1m",
)


def _read(folder: Path, name: str) -> dict:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _latencies(folder: Path) -> list[dict]:
    rows = [json.loads(p.read_text()) for p in folder.glob("latency_*.json")]
    return sorted(rows, key=lambda r: r["chunks"])


def headline(folder: Path) -> dict:
    """The keys other tools read; None where this run did not reach the size."""
    ingest, cold = _read(folder, "ingest"), _read(folder, "cold")
    by_size = {r["chunks"]: r for r in _latencies(folder)}
    ten_k, one_m = by_size.get(10_000), by_size.get(1_000_000)
    return {
        "ingest_vs_limit": ingest.get("ingest_vs_limit"),
        "ingest_vs_llamaindex": ingest.get("ingest_vs_llamaindex"),
        "ask_p50_ms_10k": ten_k["stages_ms"]["total"]["p50"] if ten_k else None,
        "ask_p50_ms_1m": one_m["stages_ms"]["total"]["p50"] if one_m else None,
        "cold_ask_s": cold.get("cold_ask_s"),
        "rss_gib_1m": one_m["peak_rss_gib"] if one_m else None,
        "machine": machine(),
        "commit": commit(),
    }


def _plot_latency(folder: Path, rows: list[dict], store: dict) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if rows:
        sizes = [r["chunks"] for r in rows]
        for stat in ("p50", "p95"):
            ax.plot(sizes, [r["stages_ms"]["total"][stat] for r in rows], "o-", label=f"ask {stat}")
        ax.plot(sizes, [r["stages_ms"]["embed"]["p50"] for r in rows], "s--", label="embed p50")
        ax.plot(sizes, [r["stages_ms"]["search"]["p50"] for r in rows], "s--", label="search p50")
    store_rows = store.get("sizes", [])
    if store_rows:
        sizes = [r["chunks"] for r in store_rows]
        ax.plot(sizes, [r["flat"]["p50"] for r in store_rows], "^:", label="FAISS flat p50")
        ivf = [next(v for k, v in r.items() if k.startswith("ivf"))["p50"] for r in store_rows]
        ax.plot(sizes, ivf, "v:", label="FAISS IVF p50")
    ax.set(xscale="log", yscale="log", xlabel="chunks", ylabel="ms per query")
    ax.set_title("Warm query latency vs index size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "latency.png", dpi=110)
    plt.close(fig)


def _plot_ingest(folder: Path, ingest: dict) -> None:
    if not ingest:
        return
    names = ("limit_raw_encode", "ours", "llamaindex_default")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(
        ["raw encode (limit)", "rag ingest", "llama-index default"],
        [ingest[n]["mb_per_s"] * 1000 for n in names],
        color=["grey", "tab:blue", "tab:orange"],
    )
    ax.axhline(ingest["limit_raw_encode"]["mb_per_s"] * 1000, color="red", ls="--", label="limit")
    ax.set(ylabel="KB of source text per s", title=f"Ingest, {ingest['files']} hotpotqa files")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "ingest.png", dpi=110)
    plt.close(fig)


def _markdown(
    head: dict,
    ingest: dict,
    rows: list[dict],
    store: dict,
    cold: dict,
    before: list[dict],
    int8: dict,
) -> str:
    """README.md; `before`: latency rows of the same sizes with the JSON docstore."""
    m = head["machine"]
    out = [
        "# Benchmarks",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}. "
        f"Commit `{head['commit']}`.",
        "Written by `make bench` (bench/run.py); numbers move between runs and with other load",
        "on the machine, so the ingest figures are ratios measured in the same run.",
        "",
        "## Headline (latest.json)",
        "",
        "| key | value |",
        "|---|---|",
        *[f"| {k} | {head[k]} |" for k in HEADLINE],
    ]
    if ingest:
        out += [
            "",
            f"## Ingest: first {ingest['files']} hotpotqa files ({ingest['mb']} MB)",
            "",
            "| path | chunks | s | chunks/s | MB/s | CPU s | MB per CPU s |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in ("limit_raw_encode", "ours", "llamaindex_default"):
            r = ingest[name]
            out.append(
                f"| {name} | {r['chunks']} | {r['seconds']} | {r['chunks_per_s']} | "
                f"{r['mb_per_s']} | {r.get('cpu_seconds', '-')} | {r.get('mb_per_cpu_s', '-')} |"
            )
        out += [
            "",
            f"Ratios by CPU time (robust to other load on the machine): vs the limit "
            f"{ingest.get('ingest_vs_limit_cpu', '-')}, vs llama-index "
            f"{ingest.get('ingest_vs_llamaindex_cpu', '-')}.",
        ]
        out += [
            "",
            f"Ours ({ingest['ours'].get('embed_backend', 'torch')} backend, sentence vectors "
            f"{ingest['ours'].get('sentence_vectors', 'separate')}) also stores "
            f"{ingest['ours']['sentences_embedded']} sentence vectors. "
            "Raw encode batch size (tuned): "
            f"{ingest['limit_raw_encode']['batch_size']}.",
            "",
            "![ingest](ingest.png)",
        ]
    if int8:
        out += [
            "",
            f"The ceiling of `ingest_vs_limit` on this CPU (`bench.int8_speed`, {int8['chunks']} "
            f"of those chunks, CPU s): torch fp32 {int8['torch_fp32']['cpu_seconds']}, ONNX fp32 "
            f"{int8['onnx_fp32']['cpu_seconds']}, ONNX int8 {int8['onnx_int8']['cpu_seconds']}: "
            f"int8 is {int8['int8_speedup_cpu_vs_torch_fp32']}x the limit's model "
            f"({int8['int8_speedup_cpu_vs_onnx_fp32']}x fp32 ONNX), cosine to fp32 "
            f"≥ {int8['int8_cosine_to_fp32']['min']}.",
        ]
    if rows:
        out += [
            "",
            "## Query latency, warm (ms; engine `timings_ms`)",
            "",
            "| chunks (real) | q | embed p50 | dense p50 | bm25 p50 | fusion p50 | "
            "synth p50 | total p50 | p95 | p99 | FAISS (recall@10) | serving peak RSS GiB | "
            "build peak GiB | disk MiB | persist s | load s | BM25+links build s | "
            "one file added: ingest s (persist s) |",
            "|" + "---|" * 18,
        ]
        for r in rows:
            s = r["stages_ms"]
            out.append(
                f"| {r['chunks']} ({r['real_chunks']}) | {r['questions']} | {s['embed']['p50']} | "
                f"{s['dense']['p50']} | {s['bm25']['p50']} | {s['fusion']['p50']} | "
                f"{s['synthesize']['p50']} | {s['total']['p50']} | {s['total']['p95']} | "
                f"{s['total']['p99']} | {r.get('vector_index', 'flat')} "
                f"({r.get('recall_at_10', 1.0)}) | {r['peak_rss_gib']} | "
                f"{r.get('build_peak_rss_gib', '')} | {r['index_mib']} | "
                f"{r['persist_s']} | {r['load_s']} | {r['retriever_build_s']} | "
                f"{_added(r)} |"
            )
    if before and rows:
        after = {r["chunks"]: r for r in rows}
        out += [
            "",
            "## Docstore: JSON (format 2) vs SQLite (format 3), same index otherwise",
            "",
            "| chunks | docstore | file MiB | index load s | BM25+links build s | "
            "serving peak RSS GiB | total p50 ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in before:
            for name, row in (("JSON", r), ("SQLite", after.get(r["chunks"]))):
                if row:
                    files = row["files_mib"]
                    size = files.get("docstore.json", files.get("docstore.sqlite"))
                    out.append(
                        f"| {row['chunks']} | {name} | {size} | {row['load_s']} | "
                        f"{row['retriever_build_s']} | {row['peak_rss_gib']} | "
                        f"{row['stages_ms']['total']['p50']} |"
                    )
    if store.get("sizes"):
        out += [
            "",
            "## Vector store alone (FAISS, one thread, perturbed real vectors)",
            "",
            "| chunks | index | p50 ms | p99 ms | recall@10 | build s |",
            "|---|---|---|---|---|---|",
        ]
        for r in store["sizes"]:
            for name, v in r.items():
                if name != "chunks":
                    out.append(
                        f"| {r['chunks']} | {name} | {v['p50']} | {v['p99']} | "
                        f"{v.get('recall_at_10', 1.0)} | {v.get('build_s', '')} |"
                    )
    out += ["", "![latency](latency.png)"]
    if cold:
        out += ["", *_cold_markdown(cold)]
    return "\n".join(out) + "\n"


def _added(row: dict) -> str:
    """One file ingested into that index (bench.latency.add_one_file); runs before it had
    none."""
    added = row.get("add_one_file")
    return f"{added['ingest_s']} ({added['persist_s']})" if added else ""


def _cold_markdown(cold: dict) -> list[str]:
    """The cold-ask section: p50, the per-step breakdown, and the baseline's when measured."""
    base = cold.get("baseline") or {}
    cpu, base_cpu = cold.get("breakdown_cpu_s", {}), base.get("breakdown_cpu_s", {})
    header = "| step | s | CPU s |" + (" baseline s | baseline CPU s |" if base else "")
    rows = [
        f"| {k} | {v} | {cpu.get(k, '-')} |"
        + (f" {base['breakdown_s'].get(k, '-')} | {base_cpu.get(k, '-')} |" if base else "")
        for k, v in cold["breakdown_s"].items()
    ]
    lines = [
        f"## Cold `rag ask` (seed index): p50 {cold['cold_ask_s']} s of {cold['runs']} runs",
        "",
        f"Embedding backend: {cold.get('embed_backend', 'torch')}. CPU time (user + system) "
        f"p50: {cold.get('cold_ask_cpu_s', '-')} s (the wall time includes waiting for a "
        "core on this shared machine). llama-index-core imported alone, in its own process "
        f"(a plain import): {cold.get('import_llama_index_core_alone_s', '-')} s.",
    ]
    if base:
        lines += [
            f"Baseline `{base['commit']}` in the same run, runs alternating: p50 "
            f"{base['cold_ask_s']} s, CPU {base['cold_ask_cpu_s']} s; speed-up "
            f"{cold['speedup_wall']}x wall, {cold['speedup_cpu']}x CPU. Load average "
            f"(1, 5, 15 min) before/after: {cold['load_average']['before']} / "
            f"{cold['load_average']['after']}.",
        ]
    return [
        *lines,
        "",
        header,
        "|---|---|---|" + ("---|---|" if base else ""),
        *rows,
        "",
        "Slowest packages to import (cumulative; nested ones overlap): "
        + ", ".join(f"{r['package']} {r['cumulative_s']} s" for r in cold["slowest_imports"][:6]),
    ]


def write(folder: Path | None = None) -> dict:
    """latest.json, README.md, latency.png and ingest.png in the results folder."""
    folder = folder or results_dir()
    head = headline(folder)
    ingest, store, cold = _read(folder, "ingest"), _read(folder, "store"), _read(folder, "cold")
    rows = _latencies(folder)
    (folder / "latest.json").write_text(json.dumps(head, indent=2) + "\n")
    _plot_latency(folder, rows, store)
    _plot_ingest(folder, ingest)
    notes = folder / "NOTES.md"
    before = _latencies(folder / "docstore-json")  # none: the table is left out
    text = _markdown(head, ingest, rows, store, cold, before, _read(folder, "int8_speed"))
    if notes.exists():
        text += "\n" + notes.read_text()
    (folder / "README.md").write_text(text)
    return head


if __name__ == "__main__":
    print(json.dumps(write(), indent=2))
