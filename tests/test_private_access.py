"""No module reaches into another's private names (`x._name`): the engine, the index and the
retriever are used through their public methods (`load_index`, `retriever`, `embed`…)."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

CHECKED = ("rag", "ui", "evals", "bench")
# Reaching in on purpose, with the reason.
ALLOWED = {
    # llama-index's VectorStoreIndex keeps its embedding model private and has no getter.
    ("rag/store/faiss/corpus.py", "_embed_model"),
    # An experiment that swaps the retriever's BM25 for PostgreSQL full-text search.
    ("bench/pg_fts.py", "_bm25"),
    ("bench/pg_fts.py", "_chunk_ids"),
    ("bench/pg_fts.py", "_chunks"),
    ("bench/pg_fts.py", "_full_snapshot"),
}


def _defined(tree: ast.AST) -> set[str]:
    """The private names a module defines: its functions and classes, and `self._x`."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _reached_in(tree: ast.AST, own: set[str], ours: set[str]) -> list[tuple[int, str]]:
    """`x._name` where `_name` is one of our private names that this module does not define
    (so it belongs to another), and `x` is not `self` or `cls`."""
    return [
        (node.lineno, node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ours - own
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


def test_no_module_uses_another_modules_private_names():
    trees = {
        path.relative_to(ROOT).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for folder in CHECKED
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    defined = {path: _defined(tree) for path, tree in trees.items()}
    ours = set().union(*defined.values())
    found = [
        f"{path}:{line}: .{name}"
        for path, tree in trees.items()
        for line, name in _reached_in(tree, defined[path], ours)
        if (path, name) not in ALLOWED
    ]
    assert found == []


def test_the_check_finds_a_private_reach():
    tree = ast.parse("engine._load_snapshot()\nself._mine = 1\nself._mine\n")
    assert _reached_in(tree, _defined(tree), {"_load_snapshot", "_mine"}) == [(1, "_load_snapshot")]
