"""Sentence spans and vectors persisted as flat arrays (rag.store.packed): round trip, the older
JSON layout, changes on top of a loaded store, and files that disagree."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rag import IndexCorruptError, RagEngine, Settings
from rag.store.packed import DiskArray, PackedSentences, PackedSpans, write_packed
from rag.store.sentence_vectors import SentenceStore
from tests.conftest import BRIDGE_DOCS, write_files

SPANS = {"b": [(0, 3), (4, 9)], "a": [], "é-chunk": [(1, 2)], "ab": [(5, 7)]}


def _vectors(spans: dict) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {c: rng.normal(size=(len(s), 4)).astype(np.float16) for c, s in spans.items()}


def _write_format_3(folder, spans, vectors) -> None:
    """What format 3 wrote: the spans as JSON by sorted chunk id, the vectors in that order."""
    ids = sorted(spans)
    (folder / "sentence_spans.json").write_text(json.dumps({i: spans[i] for i in ids}))
    rows = [vectors[i] for i in ids if len(vectors[i])]
    np.save(folder / "sentence_vectors.npy", np.concatenate(rows) if rows else np.zeros((0, 0)))


@pytest.mark.parametrize("layout", ["arrays", "format 3 json"])
def test_sentences_round_trip(tmp_path, layout):
    vectors = _vectors(SPANS)
    if layout == "arrays":
        SentenceStore(dict(SPANS), dict(vectors)).persist(tmp_path)
    else:
        _write_format_3(tmp_path, SPANS, vectors)
    loaded = SentenceStore.load(tmp_path)
    assert loaded.chunk_ids == set(SPANS) and len(loaded.spans) == len(SPANS)
    assert loaded.sentence_count == 4
    for chunk_id, spans in SPANS.items():
        assert loaded.spans[chunk_id] == spans
        np.testing.assert_array_equal(loaded.vectors[chunk_id], vectors[chunk_id])
    assert loaded.vectors["a"].shape == (0, 4)
    assert "zz" not in loaded.spans and loaded.spans.get("zz") is None


def test_an_empty_store_round_trips(tmp_path):
    SentenceStore().persist(tmp_path)
    loaded = SentenceStore.load(tmp_path)
    assert loaded.chunk_ids == set() and loaded.sentence_count == 0


def test_changes_on_a_loaded_store_are_seen_and_persisted(tmp_path):
    vectors = _vectors(SPANS)
    (tmp_path / "v1").mkdir()
    SentenceStore(dict(SPANS), dict(vectors)).persist(tmp_path / "v1")
    loaded = SentenceStore.load(tmp_path / "v1")
    loaded.delete(["b", "not there"])
    loaded.spans["ab"], loaded.vectors["ab"] = [(0, 1), (2, 3)], np.ones((2, 4), np.float16)
    loaded.spans["new"], loaded.vectors["new"] = [(0, 4)], np.zeros((1, 4), np.float16)
    assert sorted(loaded.spans) == ["a", "ab", "new", "é-chunk"] and len(loaded.vectors) == 4
    assert loaded.sentence_count == 4 and "b" not in loaded.spans
    with pytest.raises(KeyError):
        del loaded.spans["b"]
    (tmp_path / "v2").mkdir()
    loaded.persist(tmp_path / "v2")
    again = SentenceStore.load(tmp_path / "v2")
    assert {c: again.spans[c] for c in again.spans} == {
        "a": [],
        "ab": [(0, 1), (2, 3)],
        "new": [(0, 4)],
        "é-chunk": [(1, 2)],
    }
    np.testing.assert_array_equal(again.vectors["ab"], np.ones((2, 4)))
    np.testing.assert_array_equal(again.vectors["é-chunk"], vectors["é-chunk"])
    # The rows copied from v1's files in runs make the files a store in memory writes.
    (tmp_path / "plain").mkdir()
    SentenceStore(
        {c: list(loaded.spans[c]) for c in loaded.spans},
        {c: np.asarray(loaded.vectors[c]) for c in loaded.spans},
    ).persist(tmp_path / "plain")
    for name in (
        "sentence_vectors.npy",
        "sentence_chunks.npy",
        "sentence_offsets.npy",
        "sentence_spans.npy",
    ):
        assert (tmp_path / "v2" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()


def test_a_store_persisted_after_a_few_changes_copies_the_rest_in_runs(tmp_path):
    """300 chunks, one deleted and two added between them: the vectors file holds each
    chunk's rows, in id order, whatever the runs copied."""
    spans = {f"c{i:03d}": [(0, 1)] * (i % 4) for i in range(300)}
    vectors = _vectors(spans)
    (tmp_path / "v1").mkdir()
    SentenceStore(dict(spans), dict(vectors)).persist(tmp_path / "v1")
    loaded = SentenceStore.load(tmp_path / "v1")
    loaded.delete(["c150"])
    for added in ("c100a", "c299z"):
        loaded.spans[added], loaded.vectors[added] = [(0, 2)], np.full((1, 4), 7, np.float16)
    (tmp_path / "v2").mkdir()
    loaded.persist(tmp_path / "v2")
    again = SentenceStore.load(tmp_path / "v2")
    assert len(again.spans) == 301 and "c150" not in again.spans
    for chunk_id in ("c000", "c001", "c100", "c100a", "c101", "c151", "c299", "c299z"):
        expected = vectors.get(chunk_id, np.full((1, 4), 7, np.float16))
        np.testing.assert_array_equal(again.vectors[chunk_id], expected)
    assert again.sentence_count == sum(i % 4 for i in range(300)) - 150 % 4 + 2


@pytest.mark.parametrize(
    "damage",
    ["truncated vectors", "offsets short", "unsorted ids", "vectors of another count"],
)
def test_files_that_disagree_are_an_error(tmp_path, damage):
    write_packed(tmp_path, SPANS, _vectors(SPANS))
    if damage == "truncated vectors":
        path = tmp_path / "sentence_vectors.npy"
        path.write_bytes(path.read_bytes()[:-8])
    elif damage == "offsets short":
        np.save(tmp_path / "sentence_offsets.npy", np.array([0, 0, 2], np.int64))
    elif damage == "unsorted ids":
        ids = np.load(tmp_path / "sentence_chunks.npy")
        np.save(tmp_path / "sentence_chunks.npy", ids[::-1])
    else:
        np.save(tmp_path / "sentence_vectors.npy", np.zeros((3, 4), np.float16))
    with pytest.raises(ValueError):
        store = SentenceStore.load(tmp_path)
        [store.vectors[c] for c in SPANS]  # a truncated file fails when its end is read


def test_disk_array_reads_slices_and_whole_as_the_file_holds(tmp_path):
    data = np.arange(50, dtype=np.float32).reshape(10, 5)
    np.save(tmp_path / "m.npy", data)
    np.save(tmp_path / "v.npy", data[:, 0].copy())
    rows, flat = DiskArray(tmp_path / "m.npy"), DiskArray(tmp_path / "v.npy")
    np.testing.assert_array_equal(rows[2:4], data[2:4])
    np.testing.assert_array_equal(flat[7:100], data[7:, 0])
    assert flat[5:5].shape == (0,) and len(rows) == 10
    np.testing.assert_array_equal(np.asarray(rows), data)
    with pytest.raises(TypeError):
        rows[1]  # noqa: B018 - only slices are read


@pytest.mark.slow
def test_an_index_of_format_3_loads_answers_the_same_and_is_written_as_format_4(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", top_k=3)
    docs = write_files(tmp_path / "docs", BRIDGE_DOCS)
    RagEngine(settings).ingest([docs])
    questions = ("Atlas Shrugged", "brewer founded in 1799")
    now = [[(p.chunk_id, p.score) for p in RagEngine(settings).ask(q).retrieved] for q in questions]
    # Rewrite its sentences as format 3 did.
    index_dir = settings.index_dir
    store = SentenceStore.load(index_dir)
    spans = {c: store.spans[c] for c in store.spans}
    vectors = {c: np.array(store.vectors[c]) for c in store.spans}
    for name in ("sentence_chunks.npy", "sentence_offsets.npy", "sentence_spans.npy"):
        (index_dir / name).unlink()
    _write_format_3(index_dir, spans, vectors)
    meta = json.loads((index_dir / "rag_index.json").read_text())
    (index_dir / "rag_index.json").write_text(json.dumps(meta | {"format": 3}))
    older = [
        [(p.chunk_id, p.score) for p in RagEngine(settings).ask(q).retrieved] for q in questions
    ]
    assert older == now
    write_files(docs, {"otters.txt": "Sea otters\n\nSea otters hold hands while they sleep."})
    RagEngine(settings).ingest([docs])
    assert json.loads((index_dir / "rag_index.json").read_text())["format"] == 4
    assert (index_dir / "sentence_chunks.npy").exists()
    assert not (index_dir / "sentence_spans.json").exists()
    assert isinstance(SentenceStore.load(index_dir).spans, PackedSpans)


@pytest.mark.slow
def test_a_truncated_sentence_file_in_an_index_is_reported_unreadable(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    RagEngine(settings).ingest([write_files(tmp_path / "docs", BRIDGE_DOCS)])
    spans = settings.index_dir / "sentence_spans.npy"
    spans.write_bytes(spans.read_bytes()[:100])
    with pytest.raises(IndexCorruptError, match="unreadable"):
        RagEngine(settings).ask("Atlas Shrugged")


def test_packed_ids_are_found_by_binary_search_in_byte_order(tmp_path):
    spans = {"é": [(0, 1)], "z": [(0, 1)], "a": [(0, 1)], "Z": [(0, 1)]}
    write_packed(tmp_path, spans, _vectors(spans))
    packed = PackedSentences.load(tmp_path)
    assert list(packed.chunk_ids()) == ["Z", "a", "z", "é"]
    assert [packed.position(c) for c in ("Z", "a", "z", "é", "y")] == [0, 1, 2, 3, None]
    shutil.rmtree(tmp_path)
