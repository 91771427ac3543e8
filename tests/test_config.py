"""Settings come from arguments, then RAG_* variables, then rag.toml."""

from pathlib import Path

from rag import Settings


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
