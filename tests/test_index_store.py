"""The index store writes llama-index's own index_store.json, and reads it back the same."""

from llama_index.core.data_structs.data_structs import IndexDict, KeywordTable
from llama_index.core.storage.index_store.simple_index_store import SimpleIndexStore

from rag.store.faiss.index_store import IndexDictStore


def _index_dict(entries: int) -> IndexDict:
    struct = IndexDict(summary="chunks")
    struct.nodes_dict = {f"v{i}": f"chunk-{i}" for i in range(entries)}
    return struct


def test_what_it_persists_llama_index_reads_and_the_other_way_round(tmp_path):
    ours, keywords = IndexDictStore(), KeywordTable(table={"kremlin": {"a", "b"}})
    struct = _index_dict(3)
    ours.add_index_struct(struct)
    ours.add_index_struct(keywords)  # not an IndexDict: llama-index's own encoding
    struct.nodes_dict["v3"] = "chunk-3"  # changed after it was added: persisted as it is now
    ours.persist(str(tmp_path / "ours.json"))
    theirs = SimpleIndexStore.from_persist_path(str(tmp_path / "ours.json"))
    assert theirs.get_index_struct(struct.index_id) == struct
    assert theirs.get_index_struct(keywords.index_id) == keywords
    theirs.persist(str(tmp_path / "theirs.json"))
    again = IndexDictStore.from_persist_path(str(tmp_path / "theirs.json"))
    assert sorted(s.index_id for s in again.index_structs()) == sorted(
        [struct.index_id, keywords.index_id]
    )
    assert again.get_index_struct(struct.index_id) == struct
    assert again.get_index_struct(keywords.index_id) == keywords


def test_a_deleted_struct_is_not_persisted(tmp_path):
    store = IndexDictStore()
    kept, gone = _index_dict(2), _index_dict(1)
    store.add_index_struct(kept)
    store.add_index_struct(gone)
    store.delete_index_struct(gone.index_id)
    store.persist(str(tmp_path / "index_store.json"))
    reread = SimpleIndexStore.from_persist_path(str(tmp_path / "index_store.json"))
    assert [s.index_id for s in reread.index_structs()] == [kept.index_id]
