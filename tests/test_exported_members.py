"""The public API is what `rag.__all__` names, and every name is importable."""

import inspect
import types

import rag
import rag.errors


def test_all_names_exist_and_are_sorted():
    assert rag.__all__ == sorted(rag.__all__)
    for name in rag.__all__:
        assert getattr(rag, name) is not None


def test_every_public_name_of_the_package_is_in_all():
    """A name imported into `rag` for users but left out of `__all__` (or the reverse)."""
    public = {
        name
        for name, value in vars(rag).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"gc_paused"} == set(rag.__all__)


def test_every_error_the_front_doors_may_meet_is_exported_and_shares_the_base():
    defined = {
        name
        for name, value in vars(rag.errors).items()
        if inspect.isclass(value)
        and issubclass(value, Exception)
        and value.__module__ == "rag.errors"
    }
    assert defined <= set(rag.__all__), defined - set(rag.__all__)
    for name in defined:
        assert issubclass(getattr(rag, name), rag.RagError)
