"""Offline, citation-first question answering over your own documents."""

from rag.imports import gc_paused

with gc_paused():  # the libraries create ~170k long-lived objects (rag.imports)
    from rag import offline  # noqa: F401  (must run before the libraries below are imported)
    from rag.config import Settings
    from rag.engine import IngestReport, RagEngine
    from rag.errors import (
        DocumentNotFoundError,
        EmptyQuestionError,
        IndexBusyError,
        IndexCorruptError,
        IndexMissingError,
        LlmUnavailableError,
        ModelMissingError,
        NoMatchingDocumentError,
        QuestionSetError,
        RagError,
        StoreUnavailableError,
    )
    from rag.types import Answer, AnswerSpan, Citation, Passage

__all__ = [
    "Answer",
    "AnswerSpan",
    "Citation",
    "DocumentNotFoundError",
    "EmptyQuestionError",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMissingError",
    "IngestReport",
    "LlmUnavailableError",
    "ModelMissingError",
    "NoMatchingDocumentError",
    "Passage",
    "QuestionSetError",
    "RagEngine",
    "RagError",
    "Settings",
    "StoreUnavailableError",
]
