"""The shipped reader: a logistic model over `rag.reader.features`, and what it decides.

Its weights, thresholds and calibration live in `reader.json` beside this module, checked
against `reader.json.sha256` when loaded. Scoring is a few dot products (no model server,
no torch): the reader costs well under a millisecond per question.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from rag.errors import ModelMissingError
from rag.reader.features import FEATURES

WEIGHTS_FILE = "reader.json"


@dataclass(frozen=True)
class Reader:
    """P(a candidate sentence holds the answer), and the calibrated confidence of an answer."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    calibration: tuple[float, float]  # confidence = sigmoid(a * best probability + b)
    refuse_below: float  # a best probability under this: the documents do not say
    confirm_above: float  # under this (and not refused): possibly related, not confirmed

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """Each candidate row's probability of holding the answer."""
        if not len(rows):
            return np.zeros(0)
        z = ((rows - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def confidence(self, best: float) -> float:
        """The calibrated chance that the best candidate answers the question."""
        a, b = self.calibration
        return 1.0 / (1.0 + math.exp(-(a * best + b)))

    @classmethod
    def from_dict(cls, data: dict) -> Reader:
        if tuple(data["features"]) != FEATURES:
            raise ModelMissingError(
                "The reader's weights were trained on other features than this version "
                "computes. Run `python -m rag.reader.train` to retrain it."
            )
        return cls(
            mean=np.asarray(data["mean"]),
            scale=np.asarray(data["scale"]),
            coef=np.asarray(data["coef"]),
            intercept=float(data["intercept"]),
            calibration=(float(data["calibration"][0]), float(data["calibration"][1])),
            refuse_below=float(data["thresholds"]["refuse_below"]),
            confirm_above=float(data["thresholds"]["confirm_above"]),
        )


def weights_path() -> Path:
    return Path(str(resources.files("rag.reader") / WEIGHTS_FILE))


@cache
def load_reader(path: Path | None = None) -> Reader:
    """The reader whose weights are at `path` (the shipped ones by default), hash-checked."""
    path = path or weights_path()
    try:
        data = path.read_bytes()
        expected = path.with_name(path.name + ".sha256").read_text().split()[0]
    except OSError as error:
        raise ModelMissingError(
            f"The reader's weights are missing ({error}). Reinstall rag, or run "
            "`python -m rag.reader.train` to train them."
        ) from error
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelMissingError(
            f"The reader's weights in {path} have sha256 {actual}, not {expected}: the file "
            "is damaged. Reinstall rag, or run `python -m rag.reader.train`."
        )
    return Reader.from_dict(json.loads(data))
