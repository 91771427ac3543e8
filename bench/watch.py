"""A watched folder: how long until a change is answerable (or gone).

    python -m bench.watch [--rounds 5]

A `FolderWatcher` (rag.watch, the one `rag watch` and `rag serve --watch` run) over a folder
holding the seed article; each round adds a note, edits it, renames it and deletes it, and
times each change from the file operation until `RagEngine.ask` (the same engine, as the
UI's) answers from the new state. Writes bench/results/watch.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

from bench.common import SEEDS, commit, figure, machine, results_dir, write_json
from rag import RagEngine, Settings
from rag.watch import DEBOUNCE_MS, FolderWatcher

CHANGES = ("add", "edit", "rename", "delete")
QUESTION = "When does the Lindqvist ferry leave?"
_POLL_S = 0.05
_TIMEOUT_S = 60.0


def _note(time_of_day: str) -> str:
    return f"# Ferry notes\n\nThe Lindqvist ferry to Tromsø leaves at {time_of_day} daily.\n"


def _until(condition: Callable[[], bool]) -> float:
    """Seconds until `condition` holds (polled every 50 ms)."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > _TIMEOUT_S:
            raise TimeoutError("the watcher did not sync within a minute")
        time.sleep(_POLL_S)
    return time.perf_counter() - started


def run(rounds: int) -> dict:
    seconds: dict[str, list[float]] = {change: [] for change in CHANGES}
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / "watched"
        shutil.copytree(SEEDS, folder)
        engine = RagEngine(Settings(data_dir=Path(temp) / "data"))
        watcher = FolderWatcher(engine, [folder])
        thread = watcher.start()
        try:
            _until(lambda: watcher.last is not None)  # the first full sync
            answer = lambda: engine.ask(QUESTION).text  # noqa: E731
            names = lambda: {Path(d.source).name for d in engine.documents()}  # noqa: E731
            for _ in range(rounds):
                note, moved = folder / "ferry.md", folder / "ferry-moved.md"
                note.write_text(_note("07:40"))
                seconds["add"].append(_until(lambda: "07:40" in answer()))
                note.write_text(_note("08:15"))
                seconds["edit"].append(_until(lambda: "08:15" in answer()))
                note.rename(moved)
                seconds["rename"].append(_until(lambda: "ferry-moved.md" in names()))
                moved.unlink()
                seconds["delete"].append(_until(lambda: "08:15" not in answer()))
        finally:
            watcher.stop()
            thread.join(timeout=30)
    summary = {
        f"{change}_{stat}_s": round(fn(values), 2)
        for change, values in seconds.items()
        for stat, fn in (("p50", median), ("max", max))
    }
    return {"rounds": rounds, "debounce_ms": DEBOUNCE_MS} | summary | {"seconds": seconds}


def _plot(result: dict, path: Path) -> None:
    with figure(path, (6, 3.5)) as ax:
        ax.boxplot([result["seconds"][change] for change in CHANGES], showfliers=True)
        ax.set_xticks(range(1, len(CHANGES) + 1), CHANGES)
        ax.axhline(5, color="#f97316", linestyle="--", linewidth=1, label="goal: 5 s")
        ax.set_ylabel("seconds until answerable (or gone)")
        ax.legend()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    result = run(parser.parse_args().rounds) | {"commit": commit(), "machine": machine()}
    out = results_dir()
    write_json("watch", result)
    _plot(result, out / "watch.png")
    rows = "\n".join(
        f"| {change} | {result[f'{change}_p50_s']} | {result[f'{change}_max_s']} |"
        for change in CHANGES
    )
    (out / "watch.md").write_text(
        f"# A watched folder\n\n{__doc__.split(chr(10), 3)[3].strip()}\n\n"
        f"Commit {result['commit']}, {result['machine']['cpu']} ({result['machine']['cores']} "
        f"cores), {result['rounds']} rounds, debounce {result['debounce_ms']} ms.\n\n"
        f"| change | p50 s | max s |\n|---|---|---|\n{rows}\n\n![watch](watch.png)\n"
    )
    print(json.dumps({k: v for k, v in result.items() if k != "seconds"}, indent=2))


if __name__ == "__main__":
    main()
