"""The SQLite docstore: llama-index's docstore API round-trips; the persisted file stays put."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from rag import RagEngine, Settings
from rag.errors import IndexCorruptError
from rag.store.faiss.docstore import DOCSTORE_FILE, SqliteDocumentStore


def _node(node_id: str, text: str, doc: str) -> TextNode:
    source = RelatedNodeInfo(node_id=doc)
    return TextNode(
        id_=node_id,
        text=text,
        metadata={"title": doc},
        relationships={NodeRelationship.SOURCE: source},
    )


def test_nodes_hashes_and_documents_round_trip_through_the_file(tmp_path):
    store = SqliteDocumentStore.empty()
    store.add_documents([_node("a1", "Ayn Rand wrote novels.", "ayn"), _node("b1", "Buns.", "bk")])
    store.set_document_hash("ayn", "hash-1")
    store.persist(str(tmp_path / "docstore.json"))  # as StorageContext.persist calls it
    loaded = SqliteDocumentStore.open(tmp_path)
    assert loaded.node_ids() == {"a1", "b1"}
    assert loaded.get_node("a1").get_content() == "Ayn Rand wrote novels."
    assert loaded.get_document_hash("ayn") == "hash-1"
    assert set(loaded.get_all_ref_doc_info() or {}) == {"ayn", "bk"}
    assert {n.metadata["title"] for n in loaded.docs.values()} == {"ayn", "bk"}


def test_documents_are_found_by_a_metadata_value_as_the_whole_list_holds_them():
    store = SqliteDocumentStore.empty()
    nodes = []
    for i in range(1200):  # more values than one SQL statement takes
        node = _node(f"n{i}", f"Text {i}.", f"doc{i}")
        node.metadata["sha256"] = f"h{i % 600}"  # two documents per content
        nodes.append(node)
    nodes.append(_node("plain", "No hash here.", "plain"))
    store.add_documents(nodes)
    wanted = [f"h{i}" for i in range(0, 600, 2)] + ["not stored", "h1'); DROP TABLE kv; --"]
    found = store.ref_docs_with("sha256", wanted)
    every = store.get_all_ref_doc_info() or {}
    expected = {d for d, info in every.items() if info.metadata.get("sha256") in wanted}
    assert set(found) == expected and len(expected) == 600
    assert found["doc2"].node_ids == every["doc2"].node_ids == ["n2"]
    assert len(store.get_all_ref_doc_info() or {}) == 1201  # the table is still there


def test_writes_after_loading_leave_the_persisted_file_unchanged(tmp_path):
    store = SqliteDocumentStore.empty()
    store.add_documents([_node("a1", "Ayn Rand wrote novels.", "ayn")])
    store.persist(str(tmp_path / "docstore.json"))
    persisted = (tmp_path / DOCSTORE_FILE).read_bytes()
    loaded = SqliteDocumentStore.open(tmp_path)
    loaded.delete_ref_doc("ayn")
    loaded.add_documents([_node("c1", "Cats.", "cat")])
    assert loaded.node_ids() == {"c1"}
    assert (tmp_path / DOCSTORE_FILE).read_bytes() == persisted  # a crash here loses nothing
    assert SqliteDocumentStore.open(tmp_path).node_ids() == {"a1"}


@pytest.mark.slow
def test_an_index_of_the_previous_format_asks_for_a_rebuild(tmp_path, seed_settings):
    data = tmp_path / "data"
    shutil.copytree(seed_settings.data_dir, data)
    meta_path = data / "index" / "rag_index.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = 2  # what the JSON-docstore version wrote
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexCorruptError, match=r"format 2.*format 3.*rag ingest DOCS"):
        RagEngine(Settings(data_dir=data)).ask("What did Peskov say?")


def test_a_docstore_under_a_relative_path_opens(tmp_path, monkeypatch):
    # `make run` uses the default data dir "data", relative to the working directory.
    monkeypatch.chdir(tmp_path)
    store = SqliteDocumentStore.empty()
    store.add_documents([_node("a1", "Ayn Rand wrote novels.", "ayn")])
    (tmp_path / "index").mkdir()
    store.persist(str(tmp_path / "index" / DOCSTORE_FILE))
    reopened = SqliteDocumentStore.open(Path("index"))
    assert reopened.get_node("a1").get_content() == "Ayn Rand wrote novels."
