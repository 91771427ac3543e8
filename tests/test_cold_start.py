"""A cold `rag ask` imports only what answering needs (bench/cold.py measures its time).

Run in a fresh interpreter: this test process has imported everything already.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Seconds of import each, none of them needed by an extractive answer from the FAISS store:
# the UI, the torch model, the LLM client, scipy (nltk and bm25s use it only if it is
# there), pandas, the PostgreSQL store's sqlalchemy dialect, tiktoken (ingest splits).
UNNEEDED = (
    "gradio",
    "torch",
    "sentence_transformers",
    "transformers",
    "openai",
    "llama_index.llms.openai_like",
    "scipy",
    "sklearn",
    "pandas",
    "pgvector",
    "psycopg2",
    "tiktoken",
)
_ASK_THEN_LIST_MODULES = """
import json, sys
from rag.cli import app
app(sys.argv[1:], standalone_mode=False)
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.slow
def test_a_cold_ask_imports_no_ui_torch_llm_client_or_scipy(seed_settings):
    command = [sys.executable, "-c", _ASK_THEN_LIST_MODULES]
    args = ["--data-dir", str(seed_settings.data_dir), "ask", "What did Peskov say?"]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Sources:" in done.stdout
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1]))
    assert "llama_index.core" in loaded  # the check sees the modules it was run with
    imported = [
        u for u in UNNEEDED if any(name == u or name.startswith(u + ".") for name in loaded)
    ]
    assert not imported, f"a cold `rag ask` imported {imported}"
