"""Titles as keys: which documents a text names, found by their titles (no NER, no LLM).

A multi-hop question names one entity and needs a second document about an entity named
*in* the first ("the director of the film that …"). When documents are titled by their
subject (encyclopedias, wikis, product manuals), a title occurring in a passage or in the
question is a strong link to that document.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rag.text import stopwords as english_stopwords

_WORD = re.compile(r"\w+")
# A qualifier in brackets after the name, at the end or before a comma: "Dave Thomas
# (businessman)", "Raymond (community), Wisconsin". Brackets that open a title are its own
# words: "(I Can't Make It) Another Day".
_DISAMBIGUATION = re.compile(r"(?<=\S)\s*\([^()]*\)(?=\s*(?:,|$))")
_MIN_KEY_CHARS = 3


def without_disambiguation(title: str) -> str:
    """The title as a text names its subject: "Dave Thomas (businessman)" → "Dave Thomas"."""
    return _DISAMBIGUATION.sub("", title).strip()


def title_key(title: str) -> str:
    """A title as the lower-cased words a text would name it by."""
    return " ".join(_WORD.findall(without_disambiguation(title).lower()))


class TitleLinker:
    """Finds the documents whose titles a text names, as word n-grams looked up in a dict."""

    def __init__(self, titles: Iterable[tuple[str, str]]) -> None:
        """`titles`: (doc_id, title) pairs; titles of stopwords only ("The Who") are skipped."""
        stopwords = set(english_stopwords())
        named: dict[str, list[str]] = {}
        for doc_id, title in titles:
            key = title_key(title)
            if len(key) >= _MIN_KEY_CHARS and not all(w in stopwords for w in key.split()):
                named.setdefault(key, []).append(doc_id)
        # Kept as tuples, not sets: most titles name one document (a set is 216 bytes, a
        # tuple 48: ~0.2 GiB less at 1M documents).
        self._docs = {key: tuple(dict.fromkeys(docs)) for key, docs in named.items()}
        del named
        # Longest title (in words) per first word: most words start no title at all.
        self._longest: dict[str, int] = {}
        for key in self._docs:
            first, length = key.split()[0], len(key.split())
            self._longest[first] = max(self._longest.get(first, 0), length)

    def linked(self, text: str) -> set[str]:
        """The doc ids whose titles occur in `text` as whole words (case ignored)."""
        words = _WORD.findall(text.lower())
        found: set[str] = set()
        for start, word in enumerate(words):
            longest = self._longest.get(word, 0)
            for end in range(start + 1, min(start + longest, len(words)) + 1):
                found.update(self._docs.get(" ".join(words[start:end]), ()))
        return found
