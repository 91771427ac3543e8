"""An eval corpus gets its own index, cached by content so a second run does not re-embed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rag.config import Settings
from rag.engine import IngestReport, RagEngine
from rag.errors import IndexMissingError
from rag.loaders import collect_files
from rag.onnx_embedding import VECTORS_VERSION
from rag.store.faiss.corpus import FORMAT_VERSION, require_index
from rag.text import SPLITTER_VERSION


def corpus_fingerprint(corpus: Path, settings: Settings) -> str:
    """A hash of the corpus's location, its files (names and bytes) and of what shapes the
    index built (citations point at the files, so a copy elsewhere gets its own index)."""
    digest = hashlib.sha256()
    shape: tuple = (
        FORMAT_VERSION,
        str(corpus.resolve()),
        settings.embed_model,
        settings.chunk_size,
        settings.chunk_overlap,
    )
    if settings.embed_backend != "torch":  # torch-built caches keep their earlier fingerprints
        shape += (settings.embed_backend, settings.sentence_vectors, VECTORS_VERSION)
    shape += (SPLITTER_VERSION,)  # indexes store the sentence spans they were embedded with
    digest.update(repr(shape).encode())
    files, _ = collect_files([corpus])
    for path in sorted(files):
        digest.update(str(path.relative_to(corpus.resolve())).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def engine_for_corpus(
    corpus: Path, settings: Settings, show_progress: bool = False
) -> tuple[RagEngine, IngestReport | None]:
    """An engine over `corpus`'s own cached index in the data dir; ingests on first use.

    With RAG_STORE=pgvector the cache is the corpus's own tables in the same database
    (`<RAG_PG_TABLE>_eval_<fingerprint>`), so an eval never adds its files to the store
    that is served.
    """
    fingerprint = corpus_fingerprint(corpus, settings)
    own: dict[str, object] = {"data_dir": settings.data_dir / "eval-corpora" / fingerprint}
    if settings.store == "pgvector":
        own["pg_table"] = f"{settings.pg_table}_eval_{fingerprint}"
    engine = RagEngine(settings.model_copy(update=own))
    if not _cached(engine):
        return engine, engine.ingest([corpus], show_progress=show_progress)
    return engine, None


def _cached(engine: RagEngine) -> bool:
    """Whether the corpus's index exists (for FAISS: its manifest, nothing loaded)."""
    if engine.settings.store == "pgvector":
        return engine.has_index()
    try:
        require_index(engine.settings.index_dir)
    except IndexMissingError:
        return False
    return True
