"""The int8 ceiling of `ingest_vs_limit` on another CPU: torch fp32 vs onnxruntime int8.

    python bench/int8_isa.py MODEL_DIR TEXTS_JSON [--threads 2]

bench.int8_speed measures this on the machine that runs the benchmarks; this script repeats
its core on a machine where the rag package is not installed (only torch, transformers,
sentence-transformers, onnx and onnxruntime), to show how the int8 speed-up depends on the
CPU's instructions (AVX-512 VNNI / AMX int8 vs AVX2 alone). It exports and quantises the
model the way rag.onnx_model does (its functions import the rag package, hence the copy of
the two calls below). MODEL_DIR: a sentence-transformers folder (fp16 weights are upcast);
TEXTS_JSON: a list of chunk texts (bench.ingest's, dumped). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 32


def cpu_flags() -> dict:
    """The CPU model and the int8-relevant instruction sets it reports."""
    info = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", info)
    flags = set(re.search(r"flags\s*:\s*(.*)", info).group(1).split())
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16")
    return {
        "cpu": model.group(1) if model else platform.processor(),
        "flags": sorted(flags & set(wanted)),
    }


def timed(run) -> tuple[dict, np.ndarray]:
    run()  # warm up
    wall, cpu = time.perf_counter(), time.process_time()
    out = run()
    return {
        "seconds": round(time.perf_counter() - wall, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
    }, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("texts", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer

    torch.set_num_threads(args.threads)
    texts = sorted(json.loads(args.texts.read_text()), key=len)
    model = SentenceTransformer(str(args.model_dir), device="cpu").float()
    result: dict = cpu_flags() | {"threads": args.threads, "chunks": len(texts)}
    result["torch_fp32"], torch_vectors = timed(
        lambda: model.encode(texts, batch_size=BATCH, normalize_embeddings=True)
    )

    tokenizer = AutoTokenizer.from_pretrained(str(args.model_dir))
    bert = model[0].auto_model.eval()

    class LastHiddenState(torch.nn.Module):  # as rag.onnx_model.export_fp32
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        names = ["input_ids", "attention_mask", "token_type_ids"]
        axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"out": {0: "batch", 1: "tokens"}}
        probe = torch.ones(1, 8, dtype=torch.long)
        torch.onnx.export(
            LastHiddenState(),
            (probe, probe, torch.zeros_like(probe)),
            str(fp32),
            input_names=names,
            output_names=["out"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        quantize_dynamic(  # as rag.onnx_model._quantize
            str(fp32),
            str(int8),
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(int8), options, providers=["CPUExecutionProvider"])

        def embed_int8() -> np.ndarray:
            out = []
            for i in range(0, len(texts), BATCH):
                enc = tokenizer(
                    texts[i : i + BATCH], padding=True, truncation=True, max_length=256,
                    return_tensors="np",
                )  # fmt: skip
                hidden = session.run(None, {n: enc[n].astype(np.int64) for n in names})[0]
                mask = enc["attention_mask"][..., None].astype(np.float32)
                pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
                out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
            return np.concatenate(out)

        result["onnx_int8"], int8_vectors = timed(embed_int8)
    cosines = (torch_vectors * int8_vectors).sum(axis=1)
    result["int8_cosine_to_torch"] = {"min": round(float(cosines.min()), 4)}
    result["int8_speedup_cpu_vs_torch_fp32"] = round(
        result["torch_fp32"]["cpu_seconds"] / result["onnx_int8"]["cpu_seconds"], 2
    )
    result["int8_speedup_wall_vs_torch_fp32"] = round(
        result["torch_fp32"]["seconds"] / result["onnx_int8"]["seconds"], 2
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
