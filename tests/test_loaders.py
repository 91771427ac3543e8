"""Loading files: metadata, and bad files rejected with a reason while the rest go on."""

import hashlib

import pytest

from rag.loaders import collect_files, load_documents, read_source_text


def test_text_and_markdown_become_documents_with_metadata(tmp_path):
    (tmp_path / "a.txt").write_text("First line title\nBody text here.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("# Heading Two\n\nMore text.\n", encoding="utf-8")
    files, rejected = collect_files([tmp_path])
    documents, unreadable = load_documents(files)
    assert rejected == [] and unreadable == []
    by_name = {d.metadata["file_name"]: d for d in documents}
    assert set(by_name) == {"a.txt", "b.md"}
    a = by_name["a.txt"]
    assert a.metadata["title"] == "First line title"
    assert by_name["b.md"].metadata["title"] == "Heading Two"
    assert a.metadata["sha256"] == hashlib.sha256((tmp_path / "a.txt").read_bytes()).hexdigest()
    assert a.doc_id == str((tmp_path / "a.txt").resolve())
    assert a.text == read_source_text(a.metadata["file_path"])
    assert "file_path" in a.excluded_embed_metadata_keys
    assert "title" not in a.excluded_embed_metadata_keys


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.txt", b"  \n\t\n", "empty file"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("latin1.txt", "caf\xe9 cr\xe8me".encode("latin-1"), "not valid UTF-8"),
    ],
)
def test_bad_files_are_rejected_with_a_reason_and_others_still_load(
    tmp_path, name, content, reason
):
    (tmp_path / name).write_bytes(content)
    (tmp_path / "good.txt").write_text("A good document.\n", encoding="utf-8")
    files, _ = collect_files([tmp_path])
    documents, rejected = load_documents(files)
    assert [d.metadata["file_name"] for d in documents] == ["good.txt"]
    assert len(rejected) == 1
    assert rejected[0].path.endswith(name)
    assert reason in rejected[0].reason


def test_unsupported_or_missing_paths_are_rejected(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n", encoding="utf-8")
    files, rejected = collect_files([tmp_path / "data.csv", tmp_path / "nope.txt"])
    assert files == []
    reasons = {r.path.rsplit("/", 1)[-1]: r.reason for r in rejected}
    assert "unsupported file type" in reasons["data.csv"]
    assert reasons["nope.txt"] == "no such file or folder"


def test_a_folder_only_yields_supported_files_once(tmp_path):
    (tmp_path / "a.txt").write_text("x y z\n", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    files, rejected = collect_files([tmp_path, tmp_path / "a.txt"])
    assert [f.name for f in files] == ["a.txt"]
    assert rejected == []
