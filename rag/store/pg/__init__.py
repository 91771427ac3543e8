"""The PostgreSQL + pgvector store: one database that many `rag serve` instances read."""
