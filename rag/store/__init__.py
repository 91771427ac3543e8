"""Where the chunks live: one `Corpus` protocol (rag.store.corpus), two implementations.

`rag.store.faiss`: FAISS vectors and a SQLite docstore in the data dir, persisted atomically.
`rag.store.pg`: PostgreSQL + pgvector, shared by many instances. Both use the pieces at
this level: sentence vectors and spans (sentence_vectors, packed) and BM25 with the titles
(bm25, lexical). Import-free on purpose: a cold `rag ask` must not import sqlalchemy.
"""
