"""The public API is what `rag.__all__` names, and every name is importable."""

import rag


def test_all_names_exist_and_are_sorted():
    assert rag.__all__ == sorted(rag.__all__)
    for name in rag.__all__:
        assert getattr(rag, name) is not None


def test_errors_share_one_base_for_the_front_doors_to_catch():
    for name in (
        "IndexMissingError",
        "IndexCorruptError",
        "ModelMissingError",
        "StoreUnavailableError",
    ):
        assert issubclass(getattr(rag, name), rag.RagError)
