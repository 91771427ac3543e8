"""BM25 and titles persisted in segments: scored as llama-index builds BM25, kept in step
with every write, written by what changed, rebuilt for older indexes."""

from __future__ import annotations

import json
import shutil

import bm25s
import numpy as np
import pytest
import Stemmer
from llama_index.retrievers.bm25 import BM25Retriever

from rag import IndexCorruptError, RagEngine, Settings
from rag.reading.chunks import sentence_texts
from rag.store.lexical import LexicalIndex
from tests.conftest import BRIDGE_DOCS as DOCS
from tests.conftest import write_files

pytestmark = pytest.mark.slow

QUESTIONS = (
    "What food is sold by the company that one of Daniel Greene's sitters founded?",
    "Atlas Shrugged",
    "brewer founded in 1799",
    "Greene Greene King",  # a repeated word counts once per repeat, as in bm25s
    "no such words zyxxqorp",
)


@pytest.fixture(scope="module")
def bridge_settings(tmp_path_factory) -> Settings:
    """A real index of the bridge documents, persisted once for the module."""
    folder = tmp_path_factory.mktemp("bridge")
    settings = Settings(data_dir=folder / "data", top_k=3)
    RagEngine(settings).ingest([write_files(folder / "docs", DOCS)])
    return settings


def _answers(settings: Settings) -> list[list[tuple[str, float]]]:
    engine = RagEngine(settings)
    return [[(p.chunk_id, p.score) for p in engine.ask(q).retrieved] for q in QUESTIONS]


def _scores(lexical: LexicalIndex, question: str) -> tuple[dict, dict]:
    """Chunk id → BM25, and chunk id → its best sentence's BM25."""
    assert lexical.bm25 is not None
    chunks, sentences = lexical.bm25.scores(question)
    ids = lexical.chunk_ids
    return dict(zip(ids, chunks.tolist(), strict=True)), dict(
        zip(ids, sentences.tolist(), strict=True)
    )


def test_segments_with_deletions_score_as_llama_index_builds_bm25_of_what_is_left(
    bridge_settings,
):
    """Chunks added two at a time (merged as they come), two of them deleted: every score is
    bm25s's over the chunks left, to the bit, for the chunks and for their sentences."""
    index = RagEngine(bridge_settings).load_index()
    nodes = sorted(index.index.docstore.docs.values(), key=lambda n: n.node_id)
    lexical = LexicalIndex()
    for start in range(0, len(nodes), 2):
        lexical = lexical.with_chunks(nodes[start : start + 2], index.sentences)
    deleted_files = ("greene-king.txt", "burger-king.txt")
    gone = {n.node_id for n in nodes if n.metadata["file_path"].endswith(deleted_files)}
    lexical = lexical.without(gone)
    left = [n for n in nodes if n.node_id not in gone]
    stemmer = Stemmer.Stemmer("english")
    whole = BM25Retriever.from_defaults(nodes=left, stemmer=stemmer)
    texts, owners = [], []
    for node in left:
        spans = index.sentences.spans[node.node_id]
        texts += sentence_texts(node.metadata["title"], node.get_content(), node.metadata, spans)
        owners += [node.node_id] * len(spans)
    sentences = bm25s.BM25()
    sentences.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False))
    assert sorted(lexical.chunk_ids) == sorted(entry["node_id"] for entry in whole.corpus)
    assert lexical.bm25 is not None and lexical.bm25.sentence_count == len(texts)
    for question in QUESTIONS:
        tokens = bm25s.tokenize(
            [question], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )[0]
        chunks, best = _scores(lexical, question)
        if not tokens:
            continue
        expected = whole.bm25.get_scores(tokens)
        assert chunks == {
            entry["node_id"]: float(s) for entry, s in zip(whole.corpus, expected, strict=True)
        }
        expected_best = dict.fromkeys(chunks, 0.0)
        for owner, score in zip(owners, sentences.get_scores(tokens).tolist(), strict=True):
            expected_best[owner] = max(expected_best[owner], score)
        assert best == expected_best
    assert max(_scores(lexical, "Atlas Shrugged")[0].values()) > 0


def test_segments_stay_few_and_merges_drop_deleted_chunks(bridge_settings):
    index = RagEngine(bridge_settings).load_index()
    nodes = list(index.index.docstore.docs.values())
    lexical = LexicalIndex()
    for _ in range(13):  # 65 chunks, one at a time: a merge leaves sizes shrinking by > 2×
        for node in nodes:
            lexical = lexical.with_chunks(
                [node.model_copy(update={"id_": node.node_id})], index.sentences
            )
    sizes = [len(s.chunk_ids) for s in lexical.segments]
    assert sum(sizes) == 65 and len(sizes) <= 7
    assert all(a > 2 * b for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    one = LexicalIndex().with_chunks(nodes, index.sentences)
    deleted = one.without([nodes[0].node_id])
    assert deleted.segments == one.segments and deleted.chunk_ids == one.chunk_ids[1:]
    merged = deleted.with_chunks(nodes[:2], index.sentences)  # 4 live ≤ 2 × 2: merged
    assert len(merged.segments) == 1 and not merged.deleted
    assert (
        merged.chunk_ids
        == merged.segments[0].chunk_ids
        == one.chunk_ids[1:] + [n.node_id for n in nodes[:2]]
    )


def test_a_loaded_index_reads_bm25_and_titles_as_they_were_built(bridge_settings):
    index = RagEngine(bridge_settings).load_index()
    loaded = index._lexical
    assert loaded is not None  # read from disk, not built from the chunks
    built = LexicalIndex.build(index.index.docstore, index.sentences)
    assert dict(zip(loaded.chunk_ids, loaded.chunk_docs, strict=True)) == dict(
        zip(built.chunk_ids, built.chunk_docs, strict=True)
    )
    assert loaded.titles == built.titles and "Dave Thomas (businessman)" in loaded.titles.values()
    for question in QUESTIONS:
        assert _scores(loaded, question) == _scores(built, question)


def test_adding_a_file_writes_its_segment_and_links_the_others(bridge_settings, tmp_path):
    settings = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, settings.index_dir)
    folder = settings.index_dir / "lexical"
    before = {f.relative_to(folder): f.stat().st_ino for f in folder.glob("*/*")}
    engine = RagEngine(settings)
    note = {"otters.txt": "Sea otters\n\nSea otters hold hands while they sleep."}
    assert engine.ingest([write_files(tmp_path / "more", note)]).count("added") == 1
    after = {f.relative_to(folder): f.stat().st_ino for f in folder.glob("*/*")}
    kept = {path for path in before if after.get(path) == before[path]}
    assert kept == set(before)  # the same files (inodes): linked, not written again
    assert len(set(after) - set(before)) == len(before)  # one segment's files, as before
    manifest = json.loads((folder / "segments.json").read_text())
    assert len(manifest["segments"]) == 2  # 5 chunks, then 1: not merged
    reloaded = RagEngine(settings)
    assert reloaded.ask("Do sea otters hold hands?").citations[0].quote.startswith("Sea otters")
    index = reloaded.load_index()
    built = LexicalIndex.build(index.index.docstore, index.sentences)
    assert index._lexical is not None
    for question in (*QUESTIONS, "sea otters sleep"):
        assert _scores(index._lexical, question) == _scores(built, question)


def test_a_removed_file_is_gone_from_bm25_and_its_deletion_persists(bridge_settings, tmp_path):
    settings = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, settings.index_dir)
    engine = RagEngine(settings)
    ayn_rand = next(d for d in engine.documents() if d.source.endswith("ayn-rand.txt"))
    engine.delete(ayn_rand.source)
    manifest = json.loads((settings.index_dir / "lexical" / "segments.json").read_text())
    assert sum(map(len, manifest["deleted"].values())) == ayn_rand.chunks
    loaded = RagEngine(settings).load_index()._lexical
    assert loaded is not None and ayn_rand.doc_id not in loaded.chunk_docs
    assert ayn_rand.doc_id not in loaded.titles
    assert max(_scores(loaded, "Atlas Shrugged Fountainhead")[0].values()) == 0


def test_documents_removed_together_leave_bm25_in_one_pass(bridge_settings, tmp_path, monkeypatch):
    """A sync that removes many files scans the chunk ids once, not once per file."""
    settings = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, settings.index_dir)
    passes = []
    without = LexicalIndex.without

    def counted(self, chunk_ids):
        passes.append(len(chunk_ids))
        return without(self, chunk_ids)

    monkeypatch.setattr(LexicalIndex, "without", counted)
    index = RagEngine(settings).load_index()
    gone = [d for d in index.documents() if not d.source.endswith("ayn-rand.txt")]
    for document in gone:
        index.delete(document.doc_id)
    lexical = index.lexical_index()
    assert passes == [sum(d.chunks for d in gone)]
    assert set(lexical.chunk_docs) == {d.doc_id for d in index.documents()}
    assert lexical.describes(index.chunk_count) and index.chunk_count >= 1


def test_an_index_written_before_segments_answers_the_same(bridge_settings, tmp_path):
    older = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, older.index_dir)
    shutil.rmtree(older.index_dir / "lexical")
    (older.index_dir / "lexical" / "bm25").mkdir(parents=True)  # bm25s's folder, as then
    (older.index_dir / "lexical" / "chunks.json").write_text('{"chunk_ids": []}')
    assert RagEngine(older).load_index()._lexical is None  # built from the chunks on use
    # The same chunks, their scores to float32 rounding (candidates batched in another order).
    for old, new in zip(_answers(older), _answers(bridge_settings), strict=True):
        assert [c for c, _ in old] == [c for c, _ in new]
        assert [s for _, s in old] == pytest.approx([s for _, s in new], rel=1e-6)
    otters = write_files(tmp_path / "more", {"otters.txt": "Sea otters hold hands."})
    RagEngine(older).ingest([otters])  # the next write persists it in segments
    written = LexicalIndex.load(older.index_dir)
    assert written is not None and len(written.chunk_ids) == len(DOCS) + 1


def test_bm25_that_disagrees_with_the_chunks_is_reported(bridge_settings, tmp_path):
    broken = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, broken.index_dir)
    chunks_file = next((broken.index_dir / "lexical").glob("*/chunks.json"))
    chunks = json.loads(chunks_file.read_text())
    chunks["chunk_ids"][0] = "a chunk that is not in the docstore"
    chunks_file.write_text(json.dumps(chunks))
    with pytest.raises(IndexCorruptError, match="inconsistent"):
        RagEngine(broken).ask("Atlas Shrugged")


def test_a_truncated_segment_is_reported_unreadable(bridge_settings, tmp_path):
    broken = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, broken.index_dir)
    indptr = next((broken.index_dir / "lexical").glob("*/chunk_indptr.npy"))
    indptr.write_bytes(indptr.read_bytes()[:-16])
    with pytest.raises(IndexCorruptError, match="unreadable"):
        RagEngine(broken).ask("Atlas Shrugged")


@pytest.mark.parametrize("damage", ["a deleted chunk past the end", "an unknown segment"])
def test_a_manifest_that_names_chunks_no_segment_holds_is_reported(
    bridge_settings, tmp_path, damage
):
    broken = bridge_settings.model_copy(update={"data_dir": tmp_path / "data"})
    shutil.copytree(bridge_settings.index_dir, broken.index_dir)
    manifest_file = broken.index_dir / "lexical" / "segments.json"
    manifest = json.loads(manifest_file.read_text())
    name = manifest["segments"][0] if damage.startswith("a deleted") else "f" * 32
    manifest["deleted"] = {name: [10_000]}
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="unreadable"):
        RagEngine(broken).ask("Atlas Shrugged")


def test_a_corpus_without_one_word_for_bm25_is_indexed_and_grows(tmp_path):
    """Tokens of one letter only ("x x x"): no vocabulary at all, and nothing breaks."""
    settings = Settings(data_dir=tmp_path / "data")
    docs = write_files(tmp_path / "docs", {"x.txt": "x x x\n", "signs.txt": "- + = !\n"})
    report = RagEngine(settings).ingest([docs])
    assert report.count("added") == 2, report.rejected
    loaded = RagEngine(settings).load_index()._lexical
    assert loaded is not None and loaded.bm25 is not None
    chunks, sentences = loaded.bm25.scores("x x x")
    assert not chunks.any() and not sentences.any()  # no keyword matches; nothing breaks
    otters = write_files(tmp_path / "more", {"otters.txt": "Sea otters hold hands.\n"})
    RagEngine(settings).ingest([otters])
    answer = RagEngine(settings).ask("Do sea otters hold hands?")
    assert answer.citations and answer.citations[0].quote == "Sea otters hold hands."
    np.testing.assert_array_equal(RagEngine(settings).load_index()._lexical.bm25.scores("x")[0], 0)
