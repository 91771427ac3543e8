"""Ingest throughput: the raw encode limit vs our ingest vs llama-index's default path.

    python -m bench.ingest [--files 1000]

All three read the same first N hotpotqa files (sorted by name). MB/s counts the source
text once (not chunk overlap or metadata), so the three rates compare the same work;
chunks/s counts each path's own chunks (llama-index's default splitter makes fewer).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import HOTPOT_CORPUS, Clock, write_json
from rag import RagEngine, Settings
from rag.embedding import cl100k_tokenizer, default_model_path
from rag.file_text import Limits
from rag.loaders import collect_files, load_documents
from rag.reading.splitter import make_splitter


def _rate(chunks: int, mb: float, clock: Clock) -> dict:
    seconds = clock.seconds
    return {
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(clock.cpu_seconds, 2),
        "mb_per_cpu_s": round(mb / clock.cpu_seconds, 4),
        "chunks_per_s": round(chunks / seconds, 1),
        "mb_per_s": round(mb / seconds, 4),
    }


def raw_encode(texts: list[str], mb: float) -> dict:
    """sentence-transformers `encode` of our chunk texts, at the best of a few batch sizes."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(default_model_path()), device="cpu")
    sample = texts[: min(len(texts), 96)]
    tried = {}
    for batch in (16, 32, 64):  # tuned on a sample: the rest of the run uses the fastest
        started = time.perf_counter()
        model.encode(sample, batch_size=batch, normalize_embeddings=True)
        tried[batch] = time.perf_counter() - started
    best = min(tried, key=tried.__getitem__)
    with Clock() as clock:
        model.encode(texts, batch_size=best, normalize_embeddings=True)
    return _rate(len(texts), mb, clock) | {"batch_size": best}


def ours(files: list[Path], mb: float, data_dir: Path) -> dict:
    """`RagEngine.ingest` into a fresh data dir (chunks and every sentence embedded, persisted).

    The default backend: the int8 ONNX model, sentence vectors pooled from the chunks' pass.
    """
    settings = Settings(data_dir=data_dir)
    engine = RagEngine(settings)
    # Loaded (and built into the cache if needed) before the clock starts, as for the others.
    engine.embed_model.get_text_embedding_batch(["warm up", "the batch session"])
    with Clock() as clock:
        report = engine.ingest(files)
    sentences = sum(len(s) for s in engine.load_index().sentences.spans.values())
    return _rate(report.chunks, mb, clock) | {
        "sentences_embedded": sentences,
        "embed_backend": settings.embed_backend,
        "sentence_vectors": settings.sentence_vectors,
    }


def llamaindex_default(files: list[Path], mb: float) -> dict:
    """`VectorStoreIndex.from_documents`: default splitter and batch size, a FAISS store."""
    import faiss
    from llama_index.core import Settings as LiSettings
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.faiss import FaissVectorStore

    LiSettings.llm = None
    embed = HuggingFaceEmbedding(model_name=str(default_model_path()), device="cpu")
    documents, _ = load_documents(files, Limits(max_bytes=2**30))
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(384))
    with Clock() as clock:
        index = VectorStoreIndex.from_documents(
            documents,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed,
        )
    return _rate(len(index.docstore.docs), mb, clock) | {"batch_size": embed.embed_batch_size}


def chunk_texts(count: int) -> tuple[list[Path], float, list[str]]:
    """The first `count` hotpotqa files, their MB of text, and our chunks' texts as embedded."""
    files, _ = collect_files([HOTPOT_CORPUS])
    files = sorted(files)[:count]
    documents, _ = load_documents(files, Limits(max_bytes=2**30))
    mb = sum(len(d.text.encode()) for d in documents) / 1e6
    settings = Settings()
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap, cl100k_tokenizer())
    nodes = splitter.get_nodes_from_documents(documents)
    from llama_index.core.schema import MetadataMode

    return files, mb, [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]


def measure(count: int, data_dir: Path) -> dict:
    """The three paths on the first `count` files, and the two ratios (MB/s over MB/s)."""
    files, mb, texts = chunk_texts(count)
    result = {
        "files": len(files),
        "mb": round(mb, 3),
        "limit_raw_encode": raw_encode(texts, mb),
        "ours": ours(files, mb, data_dir),
        "llamaindex_default": llamaindex_default(files, mb),
    }
    limit, mine, li = (
        result[k]["mb_per_s"] for k in ("limit_raw_encode", "ours", "llamaindex_default")
    )
    result["ingest_vs_limit"] = round(mine / limit, 3)
    result["ingest_vs_llamaindex"] = round(mine / li, 3)
    limit, mine, li = (
        result[k]["mb_per_cpu_s"] for k in ("limit_raw_encode", "ours", "llamaindex_default")
    )
    result["ingest_vs_limit_cpu"] = round(mine / limit, 3)
    result["ingest_vs_llamaindex_cpu"] = round(mine / li, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="Leave our index here (the latency pool).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.files, args.keep or Path(tmp))
    print(write_json("ingest", result))


if __name__ == "__main__":
    main()
