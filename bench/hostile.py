"""Hostile files at full size: each ingested beside a good file by `rag ingest`, default limits.

    python -m bench.hostile

For each case a fresh `rag ingest CASE good.txt` runs in its own process. Measured: its wall
time, its peak RSS (the packaged model included), the reason it gave, and whether the good
file was indexed. The same run with the good file alone is the baseline. Goal:
each rejected with its reason within 10 s and under 1 GiB. Writes
bench/results/hostile.{json,md,png}. tests/test_loaders.py checks each case at a small size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from bench.ui_load import RESULTS, ROOT

GOOD = "The Hallgren orchard grows 312 kinds of apple.\n"


def _docx_bomb(path: Path) -> None:
    """A 1 MB DOCX whose document.xml unpacks to 1 GiB (~1000×)."""
    from docx import Document

    Document().save(path)
    with zipfile.ZipFile(path) as zipped:
        parts = {n: zipped.read(n) for n in zipped.namelist()}
    head, tail = parts.pop("word/document.xml").split(b"<w:body>", 1)
    paragraph = b"<w:p><w:r><w:t>boom</w:t></w:r></w:p>" * 1024
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in parts.items():
            zipped.writestr(name, data)
        with zipped.open("word/document.xml", "w", force_zip64=True) as xml:
            xml.write(head + b"<w:body>")
            for _ in range(2**30 // len(paragraph)):
                xml.write(paragraph)
            xml.write(tail)


def _pdf_of_empty_pages(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(50_000):
        writer.add_blank_page(612, 792)
    with path.open("wb") as out:
        writer.write(out)


def _sparse(path: Path) -> None:
    path.touch()
    os.truncate(path, 2**30)


def _nested_html(depth: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_text("<div>" * depth + "deep" + "</div>" * depth)

    return make


def _flat_html(path: Path) -> None:
    """11 MB: a million elements side by side."""
    path.write_text("<html><body>" + "<p>word</p>" * 1_000_000 + "</body></html>")


def _huge_text(path: Path) -> None:
    """99 MB of words: under the file limit, over the 50 MB text limit."""
    with path.open("w") as out:
        for _ in range(99):
            out.write("word " * (2**20 // 5))


CASES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "DOCX bomb (1 MB → 1 GiB of XML)": ("bomb.docx", _docx_bomb),
    "PDF of 50,000 empty pages": ("pages.pdf", _pdf_of_empty_pages),
    "1 GiB sparse text file": ("sparse.txt", _sparse),
    "symlink to /dev/zero": ("zero.txt", lambda p: p.symlink_to("/dev/zero")),
    "FIFO": ("pipe.txt", os.mkfifo),
    "HTML nested 1,000,000 deep (11 MB)": ("deep.html", _nested_html(1_000_000)),
    "HTML nested 1,000 deep": ("nested.html", _nested_html(1_000)),
    "HTML of 1,000,000 paragraphs (11 MB)": ("flat.html", _flat_html),
    "99 MB of text": ("huge.txt", _huge_text),
}


def _ingest(paths: list[Path], data_dir: Path) -> dict:
    """`rag ingest PATHS` in a fresh process: seconds, peak RSS, what it printed."""
    env = os.environ | {"RAG_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "ingest", *map(str, paths)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),  # Linux: KiB
        "output": output,
        "exit": process.returncode,
    }


def _reason(output: str, path: Path) -> str:
    """The reason printed for `path` (a symlink is reported by its target)."""
    for line in output.splitlines():
        for name in (path.name, os.path.realpath(path)):
            if "rejected" in line and name in line:
                return line.split(name, 1)[1].strip(" :")
    return ""


def _row(case: str, result: dict, reason: str, good_indexed: bool) -> dict:
    measures = {key: result[key] for key in ("seconds", "peak_rss_mib", "exit")}
    row = {"case": case, "rejected": bool(reason), "reason": reason, "good_indexed": good_indexed}
    return row | measures


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        good = root / "good.txt"
        good.write_text(GOOD)
        baseline = _ingest([good], root / "baseline")
        rows.append(_row("good file alone (baseline)", baseline, "", "added" in baseline["output"]))
        for label, (name, make) in CASES.items():
            print(f"hostile: {label}", flush=True)
            folder = root / name.split(".")[0]
            folder.mkdir()
            make(folder / name)
            result = _ingest([folder / name, good], folder / "data")
            reason = _reason(result["output"], folder / name)
            rows.append(_row(label, result, reason, "1 added" in result["output"]))
            for item in folder.iterdir():
                if item.is_file() and not item.is_symlink():
                    item.unlink()
    return rows


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display on the bench machine
    import matplotlib.pyplot as plt

    labels = [r["case"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    left.barh(labels, [r["seconds"] for r in rows], color="tab:blue")
    left.axvline(10, color="tab:red", ls="--", label="goal: 10 s")
    left.set_xlabel("`rag ingest CASE good.txt` wall time (s)")
    left.legend()
    right.barh(labels, [r["peak_rss_mib"] for r in rows], color="tab:orange")
    right.axvline(1024, color="tab:red", ls="--", label="goal: 1 GiB")
    right.set_xlabel("peak RSS (MiB, model included)")
    right.legend()
    left.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    rows = run()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hostile.json").write_text(json.dumps(rows, indent=2) + "\n")
    _plot(rows, RESULTS / "hostile.png")
    table = "\n".join(
        f"| {r['case']} | {'yes' if r['rejected'] else 'no'} | {r['reason']} | "
        f"{'yes' if r['good_indexed'] else 'no'} | {r['seconds']} | {r['peak_rss_mib']} |"
        for r in rows
    )
    (RESULTS / "hostile.md").write_text(
        "# Hostile files at full size\n\n"
        f"{__doc__.split(chr(10), 3)[3].strip()}\n\n"
        "| case | rejected | reason | good file indexed | seconds | peak RSS (MiB) |\n"
        f"|---|---|---|---|---|---|\n{table}\n\n![time and memory per case](hostile.png)\n"
    )
    print(json.dumps(rows, indent=2))
    failed = [
        r
        for r in rows[1:]
        if not (r["rejected"] and r["good_indexed"] and r["seconds"] < 10)
        or r["peak_rss_mib"] >= 1024
    ]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
