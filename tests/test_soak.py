"""A short soak (bench/soak.py, 20 s): `rag serve` answering 4 sessions while another process
ingests and deletes documents every 2 s and a browser uploads through the UI. The 5-minute
run is `python -m bench.soak` (bench/results/soak.md)."""

import pytest

from bench.soak import problems, run_soak

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_answers_stay_whole_while_another_process_and_the_ui_write():
    result = run_soak(seconds=20)
    assert problems(result) == [], {k: v for k, v in result.items() if k != "timeline"}
    # It soaked: answers throughout, and writes of all three kinds.
    assert result["answers"] >= 40
    assert result["writer_ingests"] >= 3 and result["writer_deletes"] >= 2
    assert result["ui_uploads"] >= 2
    assert result["answers_refused_while_their_document_was_out"] >= 1
