"""The rag-owned tables beside PGVectorStore's chunks table."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


class Tables:
    """State, documents, sentences and the stored BM25, named after `Settings.pg_table`."""

    def __init__(self, prefix: str) -> None:
        self.metadata = sa.MetaData()
        self.state = sa.Table(
            f"{prefix}_state",
            self.metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("version", sa.BigInteger, nullable=False),
            sa.Column("embed_model", sa.Text, nullable=False),
            sa.Column("dimension", sa.Integer, nullable=False),
        )
        self.documents = sa.Table(
            f"{prefix}_documents",
            self.metadata,
            sa.Column("doc_id", sa.Text, primary_key=True),
            sa.Column("hash", sa.Text, nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("title", sa.Text, nullable=False),
            sa.Column("chunks", sa.Integer, nullable=False),
            sa.Column("ingested", sa.Text, nullable=False),
        )
        self.sentences = sa.Table(
            f"{prefix}_sentences",
            self.metadata,
            sa.Column("chunk_id", sa.Text, primary_key=True),
            sa.Column("doc_id", sa.Text, nullable=False, index=True),
            sa.Column("spans", JSONB, nullable=False),
            sa.Column("vectors", sa.LargeBinary, nullable=False),  # float16, one row each
        )
        self.lexical = sa.Table(  # one row: LexicalIndex.manifest as JSON, as of `version`
            f"{prefix}_lexical",
            self.metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("version", sa.BigInteger, nullable=False),
            sa.Column("digest", sa.Text, nullable=False),  # sha256 of `files`
            sa.Column("files", sa.LargeBinary, nullable=False),
        )
        self.lexical_segments = sa.Table(  # the segments the manifests name
            f"{prefix}_lexical_segments",
            self.metadata,
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("digest", sa.Text, nullable=False),  # sha256 of `files`
            sa.Column("files", sa.LargeBinary, nullable=False),  # a tar of its folder
            sa.Column(
                "created", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
            ),
        )
