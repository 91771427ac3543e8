"""Settings come from arguments, then RAG_* variables, then rag.toml."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from rag import Settings
from rag.cli import app


def test_defaults_point_at_the_seeds_and_a_local_data_dir(monkeypatch):
    monkeypatch.delenv("RAG_DATA_DIR")
    settings = Settings()
    assert settings.data_dir == Path("data")
    assert settings.corpus_dir == Path("seeds")
    assert settings.index_dir == Path("data/index")
    assert settings.ui_host == "127.0.0.1"


def test_environment_variables_override_the_toml_file(tmp_path, monkeypatch):
    (tmp_path / "rag.toml").write_text('top_k = 7\ncorpus_dir = "docs"\n')
    monkeypatch.setenv("RAG_TOP_K", "9")
    settings = Settings()
    assert settings.top_k == 9
    assert settings.corpus_dir == Path("docs")
    assert settings.data_dir == tmp_path / "data"  # from the isolating fixture's RAG_DATA_DIR


def test_every_setting_is_described():
    assert all(field.description for field in Settings.model_fields.values())


def test_an_overlap_as_large_as_the_chunk_is_refused_with_the_settings_named():
    with pytest.raises(ValidationError, match="RAG_CHUNK_OVERLAP .* smaller than RAG_CHUNK_SIZE"):
        Settings(chunk_size=64, chunk_overlap=64)
    assert Settings(chunk_size=64, chunk_overlap=63).chunk_overlap == 63


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAG_TOP_K": "0"}, "Error: RAG_TOP_K: Input should be greater than or equal to 1"),
        ({"RAG_TOP_K": "many"}, "Error: RAG_TOP_K: Input should be a valid integer"),
        (
            {"RAG_CHUNK_SIZE": "64", "RAG_CHUNK_OVERLAP": "100"},
            "Error: RAG_CHUNK_OVERLAP (100) must be smaller than RAG_CHUNK_SIZE (64)",
        ),
    ],
)
def test_the_cli_names_a_bad_setting_without_a_traceback(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["docs"])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
