"""Training examples for the reader: each question of a SQuAD-style set retrieved and ranked
as `rag ask` does it, each candidate sentence labelled by whether it holds a gold answer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.answer.matching import Sentence
from rag.answer.ranking import rank
from rag.reader.features import CANDIDATES, candidate_features
from rag.types import Passage


@dataclass(frozen=True)
class Question:
    """A training question: its gold answers as character spans of its file, if any."""

    id: str
    text: str
    answerable: bool
    source: str  # file name
    paragraph: int  # where its paragraph starts in the file: the cross-validation group
    answers: tuple[tuple[int, int], ...]
    answer_texts: tuple[str, ...] = ()

    @classmethod
    def from_case(cls, case: dict) -> Question:
        spans = tuple((a["start"], a["start"] + len(a["text"])) for a in case.get("answers", []))
        return cls(
            id=case["id"],
            text=case["question"],
            answerable=case.get("answerable", True),
            source=case["source_ids"][0],
            paragraph=case["paragraph"]["start"],
            answers=spans,
            answer_texts=tuple(a["text"] for a in case.get("answers", [])),
        )


@dataclass(frozen=True)
class Examples:
    """Candidate rows of every question, with the question each row belongs to."""

    features: np.ndarray  # (rows, FEATURES)
    labels: np.ndarray  # 1: the sentence holds a gold answer
    question: np.ndarray  # row → index into `questions`
    questions: list[Question]
    texts: list[str]  # each row's sentence as a reader reads it (title: sentence)
    mentions: np.ndarray  # 1: the sentence's words hold a gold answer's words (as evals check)

    def answerable(self) -> np.ndarray:
        return np.array([q.answerable for q in self.questions])

    def groups(self) -> np.ndarray:
        """Each question's paragraph (questions of one paragraph stay in one fold)."""
        keys = {
            key: n
            for n, key in enumerate(dict.fromkeys((q.source, q.paragraph) for q in self.questions))
        }
        return np.array([keys[(q.source, q.paragraph)] for q in self.questions])

    def subset(self, keep: np.ndarray) -> Examples:
        """The examples of the questions `keep` marks."""
        index = np.flatnonzero(keep)
        renumber = -np.ones(len(self.questions), np.int64)
        renumber[index] = np.arange(len(index))
        rows = keep[self.question]
        return Examples(
            self.features[rows],
            self.labels[rows],
            renumber[self.question[rows]],
            [self.questions[i] for i in index],
            [t for t, r in zip(self.texts, rows, strict=True) if r],
            self.mentions[rows],
        )


def reader_text(sentence: Sentence) -> str:
    """A candidate as a reader reads it: its document's title, then the unit."""
    return f"{sentence.passage.title}: {sentence.shown or sentence.text}"


def load_questions(path: Path) -> list[Question]:
    return [Question.from_case(json.loads(line)) for line in path.read_text().splitlines() if line]


def holds_answer(passage: Passage, start: int, end: int, question: Question) -> bool:
    """Whether a passage's units from `start` to `end` hold a gold answer's start."""
    if Path(passage.source).name != question.source:
        return False
    a, b = passage.start + start, passage.start + end
    return any(a <= answer_start < b for answer_start, _ in question.answers)


def build_examples(
    questions: list[Question],
    retrieve: Callable[[str], list[Passage]],
    progress: Callable[[Iterator[Question]], Iterator[Question]] = iter,
) -> Examples:
    """Retrieve and rank each question as `rag ask` does; its candidates become rows."""
    features, labels, owners, texts, mentions = [], [], [], [], []
    for n, question in enumerate(progress(iter(questions))):
        ranked = rank(question.text, retrieve(question.text))[:CANDIDATES]
        rows = candidate_features(question.text, ranked)
        features.append(rows)
        texts += [reader_text(s.sentence) for s in ranked]
        mentions += [_mentions(s.sentence.shown, question.answer_texts) for s in ranked]
        labels += [
            holds_answer(s.sentence.passage, s.sentence.start, s.sentence.end, question)
            for s in ranked
        ]
        owners += [n] * len(rows)
    return Examples(
        np.concatenate(features) if features else np.zeros((0, 0), np.float32),
        np.asarray(labels, np.int8),
        np.asarray(owners, np.int64),
        questions,
        texts,
        np.asarray(mentions, np.int8),
    )


def _mentions(sentence: str, answers: tuple[str, ...]) -> bool:
    """Whether a gold answer's words stand in the sentence, case and punctuation aside."""
    words = f" {_normalised(sentence)} "
    return any(f" {_normalised(a)} " in words for a in answers if _normalised(a))


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())
