"""The int8 ONNX model against fp32 on this CPU: the ceiling of `ingest_vs_limit`.

    python -m bench.int8_speed [--files 400]

The chunk texts of bench.ingest (the first N hotpotqa files), in batches of 32 sorted by
length, on every core: torch fp32 (sentence-transformers `encode`, bench.ingest's limit),
onnxruntime fp32 (the export before quantisation) and onnxruntime int8 (our backend). Our
ingest cannot beat the limit by more than int8 beats fp32 here. CPU seconds are the steady
figure on a shared machine; the int8 vectors' cosine to fp32 is reported too.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench.common import Clock, write_json
from bench.ingest import chunk_texts
from rag import RagEngine, Settings
from rag.embedding import default_model_path
from rag.onnx_embedding import OnnxEmbedding
from rag.onnx_model import export_fp32

BATCH = 32


def _onnx_vectors(model: OnnxEmbedding, texts: list[str]) -> np.ndarray:
    """Our tokenizer, graph and mean pooling, batch by batch on every core."""
    return np.concatenate(
        [
            model.embed(texts[i : i + BATCH], model.ingest_threads)
            for i in range(0, len(texts), BATCH)
        ]
    )


def _timed(embed) -> tuple[dict, np.ndarray]:
    embed()  # warm up: sessions and allocators
    with Clock() as clock:
        vectors = embed()
    return {"seconds": round(clock.seconds, 2), "cpu_seconds": round(clock.cpu_seconds, 2)}, vectors


def measure(count: int) -> dict:
    _, _, texts = chunk_texts(count)
    texts.sort(key=len)
    from sentence_transformers import SentenceTransformer

    torch_model = SentenceTransformer(str(default_model_path()), device="cpu")
    int8 = RagEngine(Settings()).embed_model
    assert isinstance(int8, OnnxEmbedding), "RAG_EMBED_BACKEND must be onnx"
    result: dict = {"chunks": len(texts)}
    result["torch_fp32"], _ = _timed(
        lambda: torch_model.encode(texts, batch_size=BATCH, normalize_embeddings=True)
    )
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        export_fp32(default_model_path(), fp32_path)
        fp32 = OnnxEmbedding(model_path=int8.model_path, onnx_path=str(fp32_path))
        result["onnx_fp32"], fp32_vectors = _timed(lambda: _onnx_vectors(fp32, texts))
    result["onnx_int8"], int8_vectors = _timed(lambda: _onnx_vectors(int8, texts))
    cosines = (fp32_vectors * int8_vectors).sum(axis=1)
    result["int8_cosine_to_fp32"] = {
        "min": round(float(cosines.min()), 4),
        "mean": round(float(cosines.mean()), 4),
    }
    for base in ("torch_fp32", "onnx_fp32"):
        result[f"int8_speedup_cpu_vs_{base}"] = round(
            result[base]["cpu_seconds"] / result["onnx_int8"]["cpu_seconds"], 2
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=400)
    args = parser.parse_args()
    print(write_json("int8_speed", measure(args.files)))


if __name__ == "__main__":
    main()
