"""Both stores implement the whole `Corpus` protocol, side by side (no inheritance), and
the engine and the retriever reach a store through it only."""

from __future__ import annotations

import ast
import inspect

from rag.store.corpus import Corpus
from rag.store.faiss.corpus import FaissCorpus
from rag.store.pg.corpus import PgCorpus
from tests.conftest import ROOT


def _members() -> set[str]:
    """The protocol's public methods and properties (typing.get_protocol_members: 3.13)."""
    return {name for name in vars(Corpus) if not name.startswith("_")}


def test_both_stores_implement_every_member_with_its_signature():
    assert {"nearest", "nodes", "sentence_vectors", "persist", "upsert"} <= _members()
    for store in (FaissCorpus, PgCorpus):
        for name in _members():
            ours, theirs = getattr(Corpus, name), getattr(store, name, None)
            assert theirs is not None, f"{store.__name__} lacks {name}"
            assert isinstance(theirs, property) == isinstance(ours, property), (store, name)
            if callable(ours):
                wanted = list(inspect.signature(ours).parameters)
                assert list(inspect.signature(theirs).parameters) == wanted, (store, name)


def test_neither_store_inherits_from_the_other():
    assert not issubclass(PgCorpus, FaissCorpus) and not issubclass(FaissCorpus, PgCorpus)


def test_the_retriever_uses_the_corpus_through_the_protocol_only():
    """`self.corpus.x` in rag/retrieve.py: every x is a protocol member."""
    tree = ast.parse((ROOT / "rag" / "retrieve.py").read_text(encoding="utf-8"))
    used = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "corpus"
    }
    used |= {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "corpus"
    }
    assert used and used <= _members(), used - _members()
