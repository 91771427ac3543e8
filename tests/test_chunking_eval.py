"""The chunk-setting study's cross-validation: each fold scored by a choice made without it."""

from evals.ablation import FOLDS, KEYS
from evals.chunking import cross_validate, parse_setting


def _rows(hits: list[float]) -> list[dict]:
    return [{key: h for key in KEYS} | {"ms": 1.0} for h in hits]


def _runs(hits_per_setting: dict[str, list[float]]) -> dict[str, dict[str, list[dict]]]:
    """Each setting scoring the same per-question hits on two sets, "a" and "b"."""
    return {
        setting: {name: _rows(hits) for name in ("a", "b")}
        for setting, hits in hits_per_setting.items()
    }


def test_a_fold_is_scored_with_the_setting_chosen_on_the_other_folds():
    questions = 2 * FOLDS
    # "200/0" is perfect everywhere but on fold 0; "200/20" is half right everywhere.
    good_but_fold_0 = [0.0 if i % FOLDS == 0 else 1.0 for i in range(questions)]
    cv = cross_validate(_runs({"200/0": good_but_fold_0, "200/20": [0.5] * questions}))
    # Fold 0 is held out: the others pick "200/0", which fails on fold 0 (no leak from it).
    assert cv["chosen_per_fold"][0] == "200/0"
    # Any other fold held out: "200/0" still wins on the rest (0.75 against 0.5).
    assert cv["chosen_per_fold"][1:] == ["200/0"] * (FOLDS - 1)
    assert cv["held_out"]["a"]["hit@1"] == 0.8
    assert cv["objective_on_all_dev"] == {"200/0": 1.6, "200/20": 1.0}
    assert cv["best_on_all_dev"] == "200/0"


def test_a_fold_that_favours_one_setting_does_not_choose_its_own_setting():
    questions = 2 * FOLDS
    strong_on_fold_0 = [1.0 if i % FOLDS == 0 else 0.4 for i in range(questions)]
    cv = cross_validate(_runs({"128/32": strong_on_fold_0, "200/20": [0.5] * questions}))
    # Fold 0 held out: on folds 1-4 "128/32" has 0.4 < 0.5. With fold 0 counted it would win.
    # Any other fold held out: fold 0 is among the rest and lifts "128/32" to 0.55.
    assert cv["chosen_per_fold"] == ["200/20"] + ["128/32"] * (FOLDS - 1)
    assert cv["held_out"]["a"]["hit@1"] == 0.42  # fold 0 at 0.5, folds 1-4 at 0.4
    assert cv["best_on_all_dev"] == "128/32"


def test_a_setting_is_size_slash_overlap():
    assert parse_setting("200/20") == (200, 20)
