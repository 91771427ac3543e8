"""What the reader decides for a question: which candidate leads, how sure it is, and whether
the documents answer at all (an answer, a possibly related one, or a refusal)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.answer.ranking import Scored
from rag.reader.features import candidate_features
from rag.reader.model import load_reader

ANSWER, POSSIBLE, REFUSE = "answer", "possibly related", "refused"


@dataclass(frozen=True)
class Judgement:
    """The candidates in the reader's order (the rules' order after them), and its verdict."""

    ranked: list[Scored]
    probability: float  # the best candidate's probability of holding the answer
    confidence: float  # calibrated: the chance that the best candidate answers
    state: str  # ANSWER, POSSIBLE or REFUSE


def judge(query: str, ranked: list[Scored]) -> Judgement:
    """Score the rules' best candidates with the reader; the most probable leads."""
    reader = load_reader()
    rows = candidate_features(query, ranked)
    probabilities = reader.probabilities(rows)
    if not len(probabilities):
        return Judgement(ranked, 0.0, reader.confidence(0.0), REFUSE)
    order = np.argsort(-probabilities, kind="stable")
    scored = [ranked[i] for i in order] + ranked[len(probabilities) :]
    best = float(probabilities[order[0]])
    if best < reader.refuse_below:
        state = REFUSE
    elif best < reader.confirm_above:
        state = POSSIBLE
    else:
        state = ANSWER
    return Judgement(scored, best, reader.confidence(best), state)
