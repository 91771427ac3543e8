"""Errors the front doors show to users.

RagError                    anything a user can fix; the message says how
├── IndexMissingError       no index in the data dir yet
├── IndexCorruptError       an index file is unreadable, inconsistent or from another model
├── IndexBusyError          another process is writing the index
├── StoreUnavailableError   the PostgreSQL store cannot be reached (RAG_STORE=pgvector)
├── ModelMissingError       the embedding model is absent or not the expected file
├── DocumentNotFoundError   a document to delete is not in the index
├── EmptyQuestionError      a blank question
├── NoMatchingDocumentError a metadata filter admits no indexed document
├── LlmUnavailableError     the LLM server refused, timed out or answered garbage
└── QuestionSetError        an eval question set is unreadable, malformed or empty
"""


class RagError(Exception):
    """Base class: the message is shown to the user as it is."""


class IndexMissingError(RagError):
    """No index has been built in the data dir."""


class IndexCorruptError(RagError):
    """An index file is unreadable or does not match the others."""


class ModelMissingError(RagError):
    """The embedding model cannot be found or fails its checksum."""


class EmptyQuestionError(RagError):
    """The question is empty or only whitespace."""


class DocumentNotFoundError(RagError):
    """The document named is not in the index."""


class IndexBusyError(RagError):
    """Another process holds the data dir's write lock."""


class StoreUnavailableError(RagError):
    """The PostgreSQL store is unreachable or refuses the connection."""


class NoMatchingDocumentError(RagError):
    """A question's metadata filter admits no indexed document."""


class LlmUnavailableError(RagError):
    """The LLM server could not be reached, was too slow, or sent something unusable."""


class QuestionSetError(RagError):
    """An eval question set (JSONL) cannot be read, a line is not a case, or it has none."""
