"""Process-wide switches that keep the libraries offline, set before any of them is imported.

The hub libraries, tiktoken and Gradio read these variables at import time, so this module
runs on `import rag`. Values the user set already are kept.
"""

import os
from importlib.util import find_spec
from pathlib import Path


def _llama_index_static(name: str) -> str:
    spec = find_spec("llama_index.core")
    assert spec is not None and spec.origin is not None, "llama-index-core is not installed"
    return str(Path(spec.origin).parent / "_static" / name)


_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # No download happens, so hub progress bars only ever show "Loading weights" noise.
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    # cl100k_base ships with llama-index-core; without this tiktoken downloads it.
    "TIKTOKEN_CACHE_DIR": _llama_index_static("tiktoken_cache"),
    # Spinning OpenMP threads make a query embedding ~50x slower under CPU contention.
    "OMP_WAIT_POLICY": "PASSIVE",
    "TOKENIZERS_PARALLELISM": "false",
}

for _name, _value in _DEFAULTS.items():
    os.environ.setdefault(_name, _value)
