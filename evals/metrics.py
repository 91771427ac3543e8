"""Per-case metrics: retrieval against evidence snippets, answers against expected phrases.

Definitions (also printed in every report):
- A passage *holds* a snippet when the snippet, whitespace removed, is a substring of the
  passage, whitespace removed.
- hit@k: some passage among the top k holds some evidence snippet.
- evidence recall@k: share of the case's snippets held by some top-k passage.
- full recall@k: every snippet of the case is held by some top-k passage (multi-hop).
- MRR@k: 1 / rank of the first passage holding a snippet (0 if none in the top k).
- nDCG@k: a passage gains 1 when it holds a snippet no higher passage held, discounted by
  log2(rank + 1); normalised by the ideal ranking, which finds one new snippet per rank.
- expected-phrase recall: share of `expect` entries the answer text contains (`a|b`: either;
  case, accents and punctuation ignored).
- citation precision: share of citations whose passage holds an evidence snippet.
- citation validity: share of citations whose quote is verbatim at its span in its file (a
  file that can no longer be read counts as invalid).
- fragment rate: share of citations whose quote (markup left out) is a fragment: it is a
  question, or it starts in lower case where no block starts, or it ends without closing
  punctuation where no block ends. A block starts at the text's start or at a line after a
  blank line or after a list marker, and ends where a blank line, a list item or the text's
  end follows (code, list items and table rows are whole without punctuation).
- sources cited: share of the case's source documents (`source_ids`, file names) that some
  citation points into (multi-hop: both supporting documents).
- answer-phrase exact match and F1 (SQuAD's): the answer phrase (`answer_span`) against
  each `expect` alternative, lower case, punctuation and articles dropped; the best
  alternative counts, averaged over the `expect` entries; 0 when refused or no phrase.
- expected calibration error: answered cases grouped by their `confidence` in ten bins;
  the mean gap between a bin's confidence and its share of passed cases, weighted by size.
- yes/no answers: cases whose expected phrase is "yes" or "no" are also reported apart
  (an extractive answer quotes the evidence but never says "yes").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

_NOT_WORD = re.compile(r"[\W_]+")
_SPACE = re.compile(r"\s+")
K_VALUES = (1, 3, 5, 10)


def normalize(text: str) -> str:
    """Lower case, accents folded, punctuation and whitespace differences removed."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_WORD.sub(" ", folded.lower()).strip()


def _squeeze(text: str) -> str:
    return _SPACE.sub("", text)


def phrase_found(expected: str, answer_text: str) -> bool:
    """Whether one `expect` entry occurs in the answer; `a|b` accepts either alternative."""
    haystack = f" {normalize(answer_text)} "
    return any(f" {normalize(alt)} " in haystack for alt in expected.split("|") if alt.strip())


_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def _squad_tokens(text: str) -> list[str]:
    return _ARTICLES.sub(" ", normalize(text)).split()


def phrase_match(expect: list[str], phrase: str) -> tuple[float, float]:
    """SQuAD's exact match and F1 of an answer phrase against the `expect` entries."""
    if not expect:
        return 0.0, 0.0
    got = _squad_tokens(phrase)
    exact, f1 = [], []
    for entry in expect:
        alternatives = [_squad_tokens(a) for a in entry.split("|") if a.strip()]
        exact.append(max((float(got == a) for a in alternatives), default=0.0))
        f1.append(max((_f1(got, a) for a in alternatives), default=0.0))
    return sum(exact) / len(exact), sum(f1) / len(f1)


def _f1(got: list[str], gold: list[str]) -> float:
    common = sum(min(got.count(t), gold.count(t)) for t in set(got))
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def expected_recall(expect: list[str], answer_text: str) -> float:
    """Share of `expect` entries the answer contains (1.0 when nothing is expected)."""
    if not expect:
        return 1.0
    return sum(phrase_found(e, answer_text) for e in expect) / len(expect)


def held_snippets(passage_text: str, evidence: list[str]) -> set[int]:
    """Indexes of the evidence snippets this passage holds."""
    text = _squeeze(passage_text)
    return {i for i, snippet in enumerate(evidence) if _squeeze(snippet) in text}


def retrieval_metrics(passages: list[str], evidence: list[str], k: int = 10) -> dict[str, float]:
    """hit@1/3/5/10, evidence and full recall@k, MRR@k and nDCG@k of a ranked passage list."""
    held = [held_snippets(p, evidence) for p in passages[:k]]
    first_hit = next((rank for rank, h in enumerate(held, start=1) if h), None)
    found: set[int] = set()
    dcg = 0.0
    for rank, snippets in enumerate(held, start=1):
        if snippets - found:
            dcg += 1 / math.log2(rank + 1)
        found |= snippets
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(evidence), k) + 1))
    metrics = {f"hit@{n}": float(any(held[:n])) for n in K_VALUES if n <= k}
    metrics.update(
        {
            "evidence_recall@10": len(found) / len(evidence),
            "full_recall@10": float(len(found) == len(evidence)),
            "mrr@10": 1 / first_hit if first_hit else 0.0,
            "ndcg@10": dcg / ideal,
        }
    )
    return metrics


def hit_curve(passages: list[str], evidence: list[str], k: int = 10) -> list[float]:
    """hit@1 … hit@k of one case, for the hit@k plot."""
    held = [bool(held_snippets(p, evidence)) for p in passages[:k]]
    return [float(any(held[:n])) for n in range(1, k + 1)]


def citation_metrics(
    citations: list[dict], evidence: list[str], read_source: Callable[[str], str]
) -> dict[str, float]:
    """Citation precision (needs evidence), validity and fragment rate of an answer's citations."""
    if not citations:
        return {}
    valid = [_quote_at_span(c, read_source) for c in citations]
    metrics = {"citation_validity": sum(valid) / len(valid)}
    fragments = [_is_fragment(c, read_source) for c in citations]
    metrics["fragment_rate"] = sum(fragments) / len(fragments)
    if evidence:
        supported = [bool(held_snippets(c["passage"], evidence)) for c in citations]
        metrics["citation_precision"] = sum(supported) / len(supported)
    return metrics


def sources_cited(source_ids: list[str], citations: list[dict]) -> float:
    """Share of the case's source files (by name) that some citation points into."""
    cited = {Path(c["source"]).name for c in citations}
    return sum(s in cited for s in source_ids) / len(source_ids)


def is_yes_no(expect: list[str]) -> bool:
    """Whether the case's expected answer is "yes" or "no"."""
    return bool(expect) and all(normalize(e) in {"yes", "no"} for e in expect)


_CLOSED = re.compile(r"[.!?:;…][\"'”’)\]»*_`]*$")
_ASKED = re.compile(r"\?[\"'”’)\]»*_`]*$")
_OPENING_MARKS = re.compile(r"^(?:[-*+•o>#]+|\d+[.)]|\(\w{1,3}\)|[\"'“‘(\[`*_])*\s*")
# What may stand before a block's first word on its line (a list marker, a table cell's
# bar), and what may follow a block's last (a blank line, a list item, a code fence, a row).
_LIST_MARKER = re.compile(r"[^\S\n]*(?:[-*+•o|]|\d{1,3}[.)]|\(\w{1,3}\)|#+|>)?[^\S\n]*[`*_]*")
_BLOCK_AFTER = re.compile(
    r"[`*_]*[^\S\n]*\|?[^\S\n]*(?:$|\n[^\S\n]*(?:\n|$|```|~~~|\||"
    r"(?:[-*+•]|\d{1,3}[.)]|#+)[^\S\n]))"
)
# A first word that is a name as written (`nss-mdns`, libnss_mdns.so.2, --opt), not prose.
_IDENTIFIER = re.compile(r"[`'\"]|\S*[-_./\d]")


def _is_fragment(citation: dict, read_source: Callable[[str], str]) -> bool:
    """Whether a citation quotes a piece of a sentence, a question, or a broken line."""
    from rag.reading.blocks import format_of
    from rag.reading.view import mask, shown

    quote = shown(mask(citation["quote"], format_of(citation["source"])), "t")
    if not quote or _ASKED.search(quote):
        return True
    try:
        text = read_source(citation["source"])
    except OSError:
        text = ""
    start, end = citation["start"], citation["end"]
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    previous_line_blank = line_start <= 1 or not text[: line_start - 1].rsplit("\n", 1)[-1].strip()
    marker = bool(before.strip()) and bool(_LIST_MARKER.fullmatch(before))
    opens_block = (not before.strip() and previous_line_blank) or marker
    closes_block = bool(_BLOCK_AFTER.match(text, end))
    first = _OPENING_MARKS.sub("", quote)[:1]
    if first.islower() and not opens_block and not _IDENTIFIER.match(citation["quote"]):
        return True
    return not _CLOSED.search(quote) and not closes_block


def _quote_at_span(citation: dict, read_source: Callable[[str], str]) -> bool:
    try:
        text = read_source(citation["source"])
    except OSError:  # moved or deleted since it was indexed
        return False
    return text[citation["start"] : citation["end"]] == citation["quote"]


def case_passed(case: dict, answer: dict) -> bool:
    """Answerable: not refused and every expected phrase present. Unanswerable: refused."""
    if not case.get("answerable", True):
        return bool(answer["refused"])
    return not answer["refused"] and expected_recall(case.get("expect", []), answer["text"]) == 1.0
