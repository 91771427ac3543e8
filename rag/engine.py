"""RagEngine: the one facade the CLI, the UI and the eval runner call."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from filelock import FileLock, Timeout
from llama_index.core.base.embeddings.base import BaseEmbedding

from rag.answer import extractive
from rag.answer.conversation import condense
from rag.answer.structure import (
    asks_about_document,
    asks_mail_field,
    overview_document,
    with_opening,
)
from rag.config import MAX_TOP_K, Settings
from rag.embedding import cl100k_tokenizer, load_embed_model
from rag.errors import (
    DocumentNotFoundError,
    EmptyQuestionError,
    IndexBusyError,
    IndexMissingError,
    LlmUnavailableError,
    NoMatchingDocumentError,
    RagError,
)
from rag.file_text import MAIL_SUFFIXES, ExtractionError, Limits, place_at
from rag.loaders import (
    Rejection,
    attachments_folder,
    collect_files,
    load_documents,
    read_source_text,
)
from rag.reading.splitter import make_splitter
from rag.retrieve import RETRIEVAL_MODES, Retriever
from rag.store.corpus import Corpus, DocumentInfo
from rag.store.faiss.corpus import FaissCorpus, require_index
from rag.store.faiss.vectors import VectorIndexPolicy
from rag.text import sentence_spans
from rag.types import Answer, Citation, Passage

if TYPE_CHECKING:
    from llama_index.core.llms import LLM
    from llama_index.core.vector_stores.types import MetadataFilters

    from rag.answer.llm import LlmResult

logger = logging.getLogger(__name__)

# A question is a question, not a document; a chat longer than this is a new conversation.
MAX_QUESTION_CHARS = 2_000
MAX_HISTORY_TURNS = 20


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did: per source file added / unchanged / replaced (/ removed, by a
    sync), and the rejections."""

    outcomes: dict[str, str] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)

    def summary(self) -> str:
        if not self.outcomes:
            return f"Nothing to index: {len(self.rejected)} rejected."
        removed = f"{self.count('removed')} removed, " if self.count("removed") else ""
        return (
            f"{self.count('added')} added, {self.count('replaced')} replaced, "
            f"{self.count('unchanged')} unchanged, {removed}{len(self.rejected)} rejected; "
            f"{self.chunks} chunks in the index ({self.seconds:.1f} s)"
        )


class RagEngine:
    """Ingest documents and answer questions about them, with citations."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._index: Corpus | None = None
        self._retriever: Retriever | None = None
        self._write_lock = threading.Lock()

    @cached_property
    def embed_model(self) -> BaseEmbedding:
        return load_embed_model(
            self.settings.embed_model,
            self.settings.embed_batch_size,
            self.settings.embed_backend,
            self.settings.model_cache_dir,
            self.settings.sentence_vectors == "pooled",
        )

    @property
    def _model_name(self) -> str:
        return Path(self.settings.embed_model or "all-MiniLM-L6-v2").name

    @property
    def _vector_policy(self) -> VectorIndexPolicy:
        return VectorIndexPolicy.from_settings(self.settings)

    def load_index(self) -> Corpus:
        """The index this engine answers from, loaded on first use and again when another
        process or instance has written a newer version (IndexMissingError: none yet)."""
        if self._index is not None and self._index.stale():
            self._index = None  # another instance wrote to the shared store
        if self._index is None:
            self._index = self._open_index(create=False)
            sentence_spans("Warm up. The sentence splitter loads its model on first use.")
        return self._index

    def _open_index(self, create: bool) -> Corpus:
        """The configured store: FAISS files in the data dir, or PostgreSQL (rag.store.pg)."""
        if self.settings.store == "pgvector":
            from rag.store.pg.corpus import PgCorpus  # sqlalchemy and pgvector: only when used

            return PgCorpus.open(
                self.settings, self.embed_model, self._model_name, require_documents=not create
            )
        if create:
            return FaissCorpus.create(
                self.settings.index_dir, self.embed_model, self._model_name, self._vector_policy
            )
        require_index(self.settings.index_dir)  # before the slow model load
        return FaissCorpus.load(
            self.settings.index_dir, self.embed_model, self._model_name, self._vector_policy
        )

    @contextmanager
    def _writing(self, create: bool = False) -> Iterator[Corpus]:
        """One writer per data dir, across threads and processes: a private copy of the index
        as it is on disk (or, with `create`, a new one when there is none) to change and
        persist.

        Another process may have written the index since this one loaded it, so it is
        loaded again inside the lock: persisting a stale copy would undo that process's work.
        Questions meanwhile run on the version this engine serves; the copy is served only
        once it is persisted, so a write that fails leaves the previous version answering.
        """
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.settings.data_dir / ".write.lock")
        with self._write_lock:
            try:
                lock.acquire(timeout=self.settings.lock_timeout_s)
            except Timeout as err:
                raise IndexBusyError(
                    f"Another process is writing the index in {self.settings.data_dir} "
                    f"(waited {self.settings.lock_timeout_s:.0f} s). Try again when it is done."
                ) from err
            try:
                yield self._private_index(create)
            finally:
                lock.release()

    def _private_index(self, create: bool) -> Corpus:
        try:
            return self._open_index(create=False)
        except IndexMissingError:
            if not create:
                raise
            return self._open_index(create=True)

    def _serve(self, index: Corpus) -> None:
        """Answer from `index` from now on (its BM25 and title links are built on first use)."""
        self._index = index
        self._retriever = None

    def retriever(self, index: Corpus | None = None) -> Retriever:
        """The retriever over `index` (default: `load_index()`) as it is now: BM25 and title
        links are built from it, and it keeps answering from that version."""
        index = index if index is not None else self.load_index()
        retriever = self._retriever
        if retriever is None or retriever.corpus is not index:
            retriever = self._retriever = Retriever(index, self.settings)
        return retriever

    def has_index(self) -> bool:
        """Whether an index can be loaded (raises if one exists but is corrupt)."""
        try:
            self.load_index()
        except IndexMissingError:
            return False
        return True

    def ingest(self, paths: Iterable[str | Path], show_progress: bool = False) -> IngestReport:
        """Add new files, replace changed ones, skip unchanged; persist if anything changed."""
        return self._write_files(list(paths), show_progress, prune=[])

    def sync(
        self,
        folders: Iterable[str | Path],
        show_progress: bool = False,
        changed: Iterable[str | Path] | None = None,
    ) -> IngestReport:
        """`ingest` the folders, and remove the documents of files under them that are gone
        (or no longer a supported type): the index then holds what the folders hold. A file
        that is there but cannot be read now keeps its indexed version (and is rejected), as
        does everything under a folder that is not there (an unmounted drive, a typo).

        `changed`: only these paths under the folders changed (a watcher's events): only
        they are read, and the documents at or under those that are gone are removed.
        """
        roots = [Path(folder).resolve() for folder in folders]
        if changed is None:
            return self._write_files(roots, show_progress, [r for r in roots if r.is_dir()])
        paths = [Path(p).resolve() for p in changed]
        inside = [p for p in paths if any(p.is_relative_to(root) for root in roots)]
        present = [p for p in inside if p.exists()]
        return self._write_files(present, show_progress, [p for p in inside if not p.exists()])

    def _write_files(
        self, paths: Sequence[str | Path], show_progress: bool, prune: list[Path]
    ) -> IngestReport:
        """Upsert the files at `paths`, then delete the documents at or under `prune` whose
        files were not among them; persist once, if anything changed."""
        started = time.perf_counter()
        files, rejected = collect_files(paths)
        limits = Limits(
            max_bytes=self.settings.max_file_mb * 2**20,
            max_text_chars=self.settings.max_text_mb * 2**20,
            max_pdf_pages=self.settings.max_pdf_pages,
            max_html_elements=self.settings.max_html_elements,
            max_ocr_pages=self.settings.max_ocr_pages,
            max_seconds=self.settings.extract_timeout_s,
        )
        documents, unreadable = load_documents(files, limits, self._attachments)
        if not documents and not (prune and self.has_index()):
            return IngestReport(rejected=rejected + unreadable)
        # A mail read again may have dropped files: what is no longer attached goes.
        prune = prune + [
            attachments_folder(self._attachments, doc.doc_id)
            for doc in documents
            if Path(doc.doc_id).suffix.lower() in MAIL_SUFFIXES
        ]
        present = {str(f) for f in files} | {doc.doc_id for doc in documents}
        with self._writing(create=True) as index:
            splitter = make_splitter(
                self.settings.chunk_size, self.settings.chunk_overlap, cl100k_tokenizer()
            )
            outcomes = index.upsert(documents, splitter, show_progress)
            gone = self._remove(index, _vanished(index, prune, present))
            outcomes |= {doc.doc_id: "removed" for doc in gone}
            if any(o != "unchanged" for o in outcomes.values()):
                index.persist()
            self._serve(index)
        self._forget_attachments(gone)
        return IngestReport(
            outcomes=outcomes,
            rejected=rejected + unreadable,
            chunks=index.chunk_count,
            seconds=time.perf_counter() - started,
        )

    def migrate_to_pgvector(self) -> int:
        """Copy the FAISS index of the data dir into PostgreSQL (RAG_PG_URL), vectors included."""
        from rag.store.pg.corpus import PgCorpus
        from rag.store.pg.migrate import migrate

        require_index(self.settings.index_dir)
        source = FaissCorpus.load(
            self.settings.index_dir, self.embed_model, self._model_name, self._vector_policy
        )
        target = PgCorpus.open(
            self.settings, self.embed_model, self._model_name, require_documents=False
        )
        return migrate(source, target)

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents; none before anything is indexed (a corrupt or unreachable
        store still raises)."""
        try:
            index = self.load_index()
        except IndexMissingError:
            return []
        return index.documents()

    def document_text(self, source: str | Path) -> str:
        """The text an indexed document's citations point into (its `start`/`end` index it)."""
        info = self._find_document(self.load_index(), source)
        try:
            return read_source_text(info.source)
        except (OSError, ExtractionError) as error:
            raise DocumentNotFoundError(
                f"{info.source} is indexed but cannot be read any more ({error}); "
                "the passages in answers still hold its indexed text."
            ) from error

    def _find_document(self, index: Corpus, source: str | Path) -> DocumentInfo:
        wanted = str(Path(source).resolve()) if Path(source).exists() else str(source)
        match = [d for d in index.documents() if wanted in (d.source, d.doc_id)]
        if not match:
            raise DocumentNotFoundError(
                f"{source} is not in the index. `rag docs` lists the indexed documents."
            )
        return match[0]

    def delete(self, source: str | Path) -> DocumentInfo:
        """Remove a document (by its path, as listed by `documents()`), and an e-mail's
        attached files' documents with it, and persist the index."""
        with self._writing() as index:
            found = self._find_document(index, source)
            removed = self._remove(index, [found])
            index.persist()
            self._serve(index)
        self._forget_attachments(removed)
        return found

    @property
    def _attachments(self) -> Path:
        """Where e-mails' attached files are kept to be indexed (rag.loaders)."""
        return self.settings.data_dir / "attachments"

    def _remove(self, index: Corpus, documents: list[DocumentInfo]) -> list[DocumentInfo]:
        """Delete these documents, and the documents of the files attached to any e-mail
        among them (a mailbox's messages, and the files attached to those): all it deleted."""
        removed = {d.doc_id: d for d in documents}
        folders = self._attachment_folders(documents)
        listed = index.documents() if folders else []  # nothing is deleted until the end
        while folders:
            attached = [d for d in listed if _under(d.source, folders) and d.doc_id not in removed]
            removed |= {d.doc_id: d for d in attached}
            folders = self._attachment_folders(attached)
        for doc_id in removed:
            index.delete(doc_id)
        return list(removed.values())

    def _attachment_folders(self, documents: list[DocumentInfo]) -> list[Path]:
        return [
            attachments_folder(self._attachments, doc.source)
            for doc in documents
            if Path(doc.source).suffix.lower() in MAIL_SUFFIXES
        ]

    def _forget_attachments(self, documents: list[DocumentInfo]) -> None:
        """Remove the stored attached files of removed e-mails (once the index without them
        is persisted: until then the previous version may still cite them)."""
        for folder in self._attachment_folders(documents):
            shutil.rmtree(folder, ignore_errors=True)

    def retrieve(self, query: str, k: int | None = None, mode: str = "hybrid") -> list[Passage]:
        """The passages `ask` would answer `query` from (no synthesis, no follow-up handling)."""
        retriever = self.retriever()
        passages, _ = retriever.retrieve(query, k or self.settings.top_k, mode)
        return [_placed(p) for p in passages]

    def ask(
        self,
        question: str,
        history: list[str] | None = None,
        k: int | None = None,
        mode: str = "hybrid",
        filters: MetadataFilters | None = None,
    ) -> Answer:
        """Answer a question; `history` holds the earlier turns' standalone queries.

        `mode` is one of `rag.retrieve.RETRIEVAL_MODES` (hybrid, dense, keyword). `filters`
        (llama-index `MetadataFilters`, see rag.filters) restricts the search to the
        documents whose metadata match; when none does, the answer is refused and says so.
        """
        for item in self.ask_stream(question, history, k, mode, filters):
            if isinstance(item, Answer):
                return item
        raise AssertionError("ask_stream ends with an Answer")

    def ask_stream(
        self,
        question: str,
        history: list[str] | None = None,
        k: int | None = None,
        mode: str = "hybrid",
        filters: MetadataFilters | None = None,
    ) -> Iterator[str | Answer]:
        """`ask`, streamed: verified pieces of an LLM answer as they are written (nothing for
        the extractive backend), then the `Answer`, whose text is what the pieces make up
        unless the answer fell back to extractive (then `notice` says why)."""
        if not question or not question.strip():
            raise EmptyQuestionError("The question is empty. Ask something about the documents.")
        if len(question) > MAX_QUESTION_CHARS:
            raise RagError(
                f"The question is {len(question):,} characters long; ask in at most "
                f"{MAX_QUESTION_CHARS:,}."
            )
        if history and len(history) > MAX_HISTORY_TURNS:
            raise RagError(
                f"The conversation has {len(history)} earlier turns; at most {MAX_HISTORY_TURNS} "
                "are read. Start a new conversation."
            )
        if mode not in RETRIEVAL_MODES:
            raise RagError(f"Unknown retrieval mode {mode!r}: use {', '.join(RETRIEVAL_MODES)}.")
        if k is not None and not 1 <= k <= MAX_TOP_K:
            raise RagError(f"Passages to retrieve must be 1 to {MAX_TOP_K}, not {k}.")
        question = question.strip()
        retriever = self.retriever()  # built once per index version
        started = time.perf_counter()
        query, notice = self._condense(question, history or [])
        answer = Answer(question=question, query=query, text="", citations=[], retrieved=[])
        try:
            k = k if k is not None else self.settings.top_k
            passages, timings = retriever.retrieve(query, k, mode, filters)
            if (asks_about_document(query) or asks_mail_field(query)) and passages:
                # A document says what it is, when and by whom where it begins: opening first.
                opening = retriever.opening(overview_document(query, passages))
                passages = with_opening(opening, passages, k)
        except NoMatchingDocumentError as error:
            refused = extractive.refusal(str(error))
            total = {"total": round((time.perf_counter() - started) * 1000, 2)}
            yield replace(answer, text=refused.text, refused=True, refusal_reason=str(error),
                          backend=self.settings.synth, notice=notice, timings_ms=total)  # fmt: skip
            return
        synthesized_at = time.perf_counter()
        answer = replace(answer, retrieved=passages)
        if self.settings.synth == "llm":
            final = None
            for item in self._llm_synthesis(answer, notice):
                if isinstance(item, Answer):
                    final = item
                else:
                    yield item
            assert final is not None
            answer = final
        else:
            answer = self._extractive(answer)
        timings |= answer.timings_ms  # the LLM's first_token and llm, when it ran
        timings["synthesize"] = (time.perf_counter() - synthesized_at) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        yield replace(
            answer,
            citations=[_placed(c) for c in answer.citations],
            retrieved=[_placed(p) for p in passages],
            timings_ms={name: round(ms, 2) for name, ms in timings.items()},
        )

    def _extractive(self, answer: Answer, notice: str = "", fallback: bool = False) -> Answer:
        result = extractive.synthesize(
            answer.query,
            answer.retrieved,
            self.settings.max_answer_sentences,
            self.settings.min_score,
            self.settings.min_coverage,
        )
        if result.possibly_related:
            tentative = "Possibly related, not a confirmed answer: the passages may not say this."
            notice = f"{notice} {tentative}".strip()
        return replace(
            answer,
            text=result.text,
            citations=result.citations,
            refused=result.refused,
            refusal_reason=result.refusal_reason,
            backend="extractive",
            notice=notice,
            fallback=fallback,
            confidence=result.confidence,
            possibly_related=result.possibly_related,
            answer_span=result.answer_span,
        )

    # --- LLM answers (RAG_SYNTH=llm) ---
    # rag.answer.llm is imported on first use: openai's client alone takes ~1 s to import,
    # a third of a cold extractive `rag ask` (bench/results/NOTES.md, cold start).

    @cached_property
    def llm(self) -> LLM:
        """The configured LLM server (built on first use; RagError when RAG_LLM_URL is unset)."""
        return _llm_answers().make_llm(self.settings)

    def _condense(self, question: str, history: list[str]) -> tuple[str, str]:
        """The standalone query (by the LLM when one is configured), and a notice if it failed."""
        if self.settings.synth != "llm" or not history:
            return condense(question, history), ""
        url = self.settings.llm_url or ""
        try:
            query = _llm_answers().condense_question(self.llm, question, history, url)
        except LlmUnavailableError as error:
            return condense(question, history), f"{error} Follow-up resolved without it."
        # Small models go on after the question ("…?\n\nThe answer is …"): keep its first line.
        query = query.strip().splitlines()[0].strip(' "') if query.strip() else ""
        if not query or len(query) > 4 * len(question) + 200:  # empty or rambling: not a query
            return condense(question, history), ""
        return query, ""

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of `texts` by the index's embedding model (one row each)."""
        vectors = np.asarray(self.embed_model.get_text_embedding_batch(texts), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _llm_synthesis(self, answer: Answer, notice: str) -> Iterator[str | Answer]:
        """Gate on the evidence, stream the verified LLM answer, fall back when it fails."""
        gap = extractive.evidence_gap(answer.query, answer.retrieved, self.settings.min_score)
        if gap:
            refused = extractive.refusal(gap)
            yield replace(answer, text=refused.text, refused=True, refusal_reason=gap,
                          backend="llm", notice=notice)  # fmt: skip
            return
        llm_answers = _llm_answers()
        result = llm_answers.LlmResult()
        for item in llm_answers.stream_answer(
            self.llm,
            answer.query,
            answer.retrieved[: self.settings.llm_passages],
            self.embed,
            self.settings,
        ):
            if isinstance(item, llm_answers.LlmResult):
                result = item
            else:
                yield item
        yield self._from_llm(answer, result, notice)

    def _from_llm(self, answer: Answer, result: LlmResult, notice: str) -> Answer:
        notes = " ".join(n for n in (notice, result.notice) if n)
        answer = replace(
            answer,
            dropped=result.dropped,
            generated_sentences=result.generated_sentences,
            timings_ms=result.timings_ms,
        )
        if result.failure:
            shown = f"{notice} {result.failure}".strip() + " Showing the extractive answer."
            return self._extractive(answer, shown, fallback=True)
        if result.refused:
            reason = "The language model found no answer in the passages."
            text = extractive.refusal(reason).text
            return replace(answer, text=text, refused=True, refusal_reason=reason,
                           backend="llm", notice=notes)  # fmt: skip
        return replace(answer, text=result.text, citations=result.citations, backend="llm",
                       notice=notes)  # fmt: skip


def _llm_answers():
    """The rag.answer.llm module, imported when an LLM answer is first asked for."""
    try:
        from rag.answer import llm
    except ImportError as err:  # `make run` installs no LLM client: it is the `llm` extra
        raise RagError(
            f"RAG_SYNTH=llm needs the OpenAI-compatible client ({err.name} is not installed): "
            "pip install 'rag[llm]' (from a checkout: pip install -e '.[llm]')."
        ) from err
    return llm


_Placed = TypeVar("_Placed", Passage, Citation)


def _placed(item: _Placed) -> _Placed:
    """With the page and locator ("slide 7", "Sheet1!A12") where it starts in its file."""
    page, locator = place_at(item.source, item.start)
    return replace(item, page=page, locator=locator)


def _vanished(index: Corpus, prune: list[Path], present: set[str]) -> list[DocumentInfo]:
    """The documents at or under `prune` whose files are not `present`."""
    documents = index.documents() if prune else []
    return [d for d in documents if d.source not in present and _under(d.source, prune)]


def _under(source: str, folders: list[Path]) -> bool:
    return any(Path(source).is_relative_to(folder) for folder in folders)
