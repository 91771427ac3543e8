"""Metadata filters on the FAISS store: real ingested files, the real model, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.embeddings import MockEmbedding  # the synthetic chunks carry vectors
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from typer.testing import CliRunner

from bench.pg import synthetic_writes
from rag import RagError
from rag.cli import app
from rag.errors import NoMatchingDocumentError
from rag.filters import parse_filters, select_chunks
from rag.store.faiss.corpus import FaissCorpus
from rag.store.faiss.vectors import VectorIndexPolicy
from tests.conftest import OTTERS, SEED_FILE, SHELLS


def by_name(*names: str, key: str = "file_name") -> MetadataFilters:
    operator = FilterOperator.IN if len(names) > 1 else FilterOperator.EQ
    value = list(names) if len(names) > 1 else names[0]
    return MetadataFilters(filters=[MetadataFilter(key=key, value=value, operator=operator)])


def names(passages) -> set[str]:
    return {Path(p.source).name for p in passages}


@pytest.mark.slow
def test_a_filter_restricts_the_answer_to_the_documents_it_names(otters):
    unfiltered = otters.ask(SHELLS, k=10)
    assert names(unfiltered.retrieved) == set(OTTERS) | {SEED_FILE.name}
    assert {Path(c.source).name for c in unfiltered.citations} == set(OTTERS)

    only_2025 = otters.ask(SHELLS, k=10, filters=by_name("report-2025.txt"))
    assert names(only_2025.retrieved) == {"report-2025.txt"}  # dense and BM25 sides alike
    assert "teeth" in only_2025.text and "stones" not in only_2025.text
    assert [Path(c.source).name for c in only_2025.citations] == ["report-2025.txt"]

    not_2025 = otters.ask(SHELLS, k=10, filters=parse_filters(["file_name!=report-2025.txt"]))
    assert names(not_2025.retrieved) == {"report-2024.txt", SEED_FILE.name}
    assert "stones" in not_2025.text and "teeth" not in not_2025.text


@pytest.mark.slow
def test_excluding_the_document_that_holds_the_answer_refuses(otters):
    assert not otters.ask("What did Peskov say?").refused
    answer = otters.ask("What did Peskov say?", filters=by_name(*OTTERS))
    assert answer.refused and not answer.citations
    assert names(answer.retrieved) <= set(OTTERS)


@pytest.mark.slow
def test_a_filter_that_matches_nothing_is_a_refusal_that_says_why(otters):
    answer = otters.ask(SHELLS, filters=by_name("no-such-file.txt"))
    assert answer.refused and not answer.retrieved and not answer.citations
    assert answer.refusal_reason == (
        "No indexed document matches the filter file_name = 'no-such-file.txt'."
    )
    typo = otters.ask(SHELLS, filters=by_name("report-2025.txt", key="filename"))
    assert typo.refused
    assert "No document has filename; the keys: date, file_name, file_path" in typo.refusal_reason


@pytest.mark.slow
def test_titles_paths_and_or_conditions_filter_too(otters, tmp_path):
    by_title = otters.ask(SHELLS, k=10, filters=by_name("Otter report 2024", key="title"))
    assert names(by_title.retrieved) == {"report-2024.txt"}
    source = next(d.source for d in otters.documents() if d.source.endswith("report-2025.txt"))
    by_path = otters.ask(SHELLS, k=10, filters=parse_filters([f"file_path={source}"]))
    assert names(by_path.retrieved) == {"report-2025.txt"}
    either = MetadataFilters(
        filters=[
            MetadataFilter(key="title", value="Otter report 2024"),
            MetadataFilter(key="file_name", value="report-2025.txt"),
        ],
        condition=FilterCondition.OR,
    )
    assert names(otters.ask(SHELLS, k=10, filters=either).retrieved) == set(OTTERS)


@pytest.mark.slow
def test_unsupported_filters_are_a_clear_error(otters):
    nested = MetadataFilters(filters=[by_name("report-2025.txt")])
    with pytest.raises(RagError, match="Nested metadata filters are not supported"):
        otters.ask(SHELLS, filters=nested)
    greater = MetadataFilters(
        filters=[MetadataFilter(key="date", value="2025", operator=FilterOperator.GT)]
    )
    with pytest.raises(RagError, match="operator > is not supported: use =, !=, in, not in"):
        otters.ask(SHELLS, filters=greater)


def test_filter_options_parse_into_metadata_filters(tmp_path):
    parsed = parse_filters(["file_name=a.txt", "file_name=b=c.txt", "title!=Old", "date!=x"])
    assert parsed is not None and parsed.condition == FilterCondition.AND
    assert [(f.key, f.operator, f.value) for f in parsed.filters] == [
        ("file_name", FilterOperator.IN, ["a.txt", "b=c.txt"]),
        ("title", FilterOperator.NE, "Old"),
        ("date", FilterOperator.NE, "x"),
    ]
    (tmp_path / "doc.txt").write_text("x")
    # The test runs in tmp_path: the CLI resolves an existing path, as the index stores it;
    # the server (the default) compares the text it was given.
    (relative,) = parse_filters(["file_path=doc.txt"], resolve_paths=True).filters
    assert relative.value == str((tmp_path / "doc.txt").resolve())
    (as_given,) = parse_filters(["file_path=doc.txt"]).filters
    assert as_given.value == "doc.txt"
    assert parse_filters([]) is None
    for bad in ("no-equals", "=value"):
        with pytest.raises(RagError, match="is not KEY=VALUE"):
            parse_filters([bad])


@pytest.mark.slow
def test_rag_ask_filter_option(otters):
    runner = CliRunner()
    data = ["--data-dir", str(otters.settings.data_dir)]
    ask = [*data, "ask", SHELLS, "--json"]
    result = runner.invoke(app, [*ask, "--filter", "file_name=report-2024.txt"])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {Path(c["source"]).name for c in answer["citations"]} == {"report-2024.txt"}
    assert {"text", "refused", "refusal_reason", "citations", "retrieved"} <= set(answer)
    nothing = runner.invoke(app, [*data, "ask", SHELLS, "--filter", "file_name=none.txt"])
    assert nothing.exit_code == 0
    assert "No indexed document matches the filter file_name = 'none.txt'" in nothing.stdout
    bad = runner.invoke(app, [*ask, "--filter", "file_name"])
    assert bad.exit_code == 1 and "is not KEY=VALUE" in bad.stderr


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_filtered_dense_search_equals_brute_force(tmp_path, kind):
    """FAISS's id selector (and the IVF fallback for a filter in unprobed lists) is exact."""
    writes = synthetic_writes(2000)
    policy = VectorIndexPolicy(kind=kind, nprobe=2)
    corpus = FaissCorpus.create(tmp_path, MockEmbedding(embed_dim=384), "synthetic", policy)
    corpus.index.insert_nodes([n for w in writes for n in w.nodes])
    corpus.fit_vectors()
    assert corpus.vector_index_kind == kind
    nodes = [n for w in writes for n in w.nodes]
    metadata = [n.metadata for n in nodes]
    vectors = np.array([n.embedding for n in nodes], np.float32)
    rng = np.random.default_rng(3)
    for doc in rng.choice(len(writes), 5, replace=False):
        wanted = by_name(writes[doc].doc.metadata["file_path"], key="file_path")
        allowed = select_chunks(wanted, [n.node_id for n in nodes], metadata)
        query = vectors[rng.integers(len(nodes))]
        found = corpus.nearest(query, 5, allowed)
        exact = np.argsort(-(vectors[allowed.mask] @ query))[:5]
        expected = [nodes[i].node_id for i in np.flatnonzero(allowed.mask)[exact]]
        assert [c for c, _ in found] == expected
    with pytest.raises(NoMatchingDocumentError):
        select_chunks(by_name("nowhere.txt"), [n.node_id for n in nodes], metadata)
