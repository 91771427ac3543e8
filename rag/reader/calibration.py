"""How well confidences match outcomes: expected calibration error and the reliability table."""

from __future__ import annotations

from collections.abc import Sequence


def calibration(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> tuple[float, list[dict]]:
    """ECE of (confidence, correct) pairs, and per confidence bin: count, mean confidence, the
    share correct. ECE weighs each bin's gap between the two by its size."""
    pairs = list(zip(confidence, correct, strict=True))
    table, error = [], 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [(c, ok) for c, ok in pairs if low <= c < high or (b == bins - 1 and c == high)]
        if not inside:
            continue
        mean_confidence = sum(c for c, _ in inside) / len(inside)
        accuracy = sum(ok for _, ok in inside) / len(inside)
        error += len(inside) / len(pairs) * abs(mean_confidence - accuracy)
        table.append(
            {
                "low": low,
                "high": high,
                "count": len(inside),
                "confidence": round(mean_confidence, 4),
                "accuracy": round(accuracy, 4),
            }
        )
    return round(error, 4), table
