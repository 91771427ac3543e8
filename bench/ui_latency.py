"""Browser-measured answer latency: Enter → first answer text, and → the full answer.

    python -m bench.ui_latency [--questions 20]

Serves the UI with `rag serve` over the seed index (built in a temp dir), drives Debian
chromium headless, and writes bench/results/ui_latency.{json,md}. Timing runs in the page
(performance.now() at the keypress, a MutationObserver for the answer), so Playwright's
own round trips are not counted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from statistics import median

from playwright.sync_api import sync_playwright

from bench.ui_load import free_port, serve_seed_index, write_results

CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, headless, with nothing that calls home (Playwright cannot download its own).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

QUESTIONS = [
    "What did Peskov say?",
    "What did Gerasimov say?",
    "How did Starmer describe this period?",
    "Who confirmed talking to his Russian counterpart?",
    "Has U.S. military aid to Ukraine resumed?",
    "What did Syrskyj hint at?",
    "What did Trump say?",
    "What did Putin say about Kursk?",
    "What did China's foreign minister say?",
    "Who is set to visit Washington?",
]

# Watches the chat from the Enter keydown: window.__timing gets `first` (first answer text)
# and `full` (nothing left streaming), in ms after the key.
_WATCH_JS = """
() => {
  const chat = document.querySelector("#chat");
  const box = document.querySelector("#question textarea");
  const before = chat.querySelectorAll(".message.bot").length;
  const timing = window.__timing = {start: null, first: null, full: null};
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && timing.start === null) timing.start = performance.now();
  }, {capture: true, once: true});
  const observer = new MutationObserver(() => {
    const bots = chat.querySelectorAll(".message.bot");
    if (timing.start === null || bots.length <= before) return;
    const last = bots[bots.length - 1];
    if (!last.querySelector("p.answer, p.refusal")) return;
    const now = performance.now() - timing.start;
    if (timing.first === null) timing.first = now;
    if (!last.querySelector(".streaming, .pending")) {
      timing.full = now;
      observer.disconnect();
    }
  });
  observer.observe(chat, {childList: true, subtree: true, characterData: true});
}
"""


def _ask(page, question: str) -> tuple[float, float]:
    box = page.locator("#question textarea")
    box.fill(question)
    page.evaluate(_WATCH_JS)
    box.press("Enter")
    page.wait_for_function("() => window.__timing.full !== null", timeout=60_000)
    return tuple(page.evaluate("() => [window.__timing.first, window.__timing.full]"))


def measure(url: str, questions: list[str]) -> list[tuple[float, float]]:
    """(first text ms, full answer ms) per question, asked in one chat."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url, wait_until="load")
        page.locator("#question textarea").wait_for()
        _ask(page, "What did Peskov say?")  # warm up the model and the page
        timings = [_ask(page, question) for question in questions]
        browser.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=20)
    args = parser.parse_args()
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.questions)]
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        server = serve_seed_index(Path(data_dir), port)
        try:
            timings = measure(f"http://127.0.0.1:{port}/", questions)
        finally:
            server.terminate()
            server.wait(timeout=30)
    firsts = [t[0] for t in timings]
    fulls = [t[1] for t in timings]
    result = {
        "questions": len(timings),
        "first_text_p50_ms": round(median(firsts), 1),
        "full_answer_p50_ms": round(median(fulls), 1),
        "first_text_max_ms": round(max(firsts), 1),
        "full_answer_max_ms": round(max(fulls), 1),
    }
    write_results(
        "ui_latency",
        "UI latency in the browser (seed corpus, extractive answers)",
        "Time from pressing Enter to the first answer text in the chat, and to the full "
        "answer (no sentence still streaming), measured in the page.",
        result,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
