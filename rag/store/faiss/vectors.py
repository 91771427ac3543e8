"""Which FAISS index holds the chunk vectors: exact (flat) while small, IVF above a threshold.

Exact `IndexFlatIP` search grows linearly: ~1 ms at 10k chunks, ~10 ms at 100k and ~105 ms
at 1M on one core (bench/results), over the 100 ms budget on its own. Above
`Settings.index_threshold` chunks the vectors move to an `IndexIVFFlat`, chosen over HNSW
because the index must keep working after deletes: IVF removes ids natively and, with a
hashtable direct map, reconstructs a vector by its id (the fusion rescores candidates from
their stored vectors), and it trains in seconds (1M: ~10 s on 2 cores, vs ~8.5 min to
build HNSW, which cannot remove ids at all). Ids are the store's own stable ids in both.
The IVF index stores its vectors as float16 (a scalar quantizer: 0.75 GiB at 1M chunks
instead of 1.5, all of it in a serving process's memory); their cosines move by ~1e-3.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np

from rag.config import Settings

logger = logging.getLogger(__name__)

IndexKind = Literal["auto", "flat", "ivf"]
_BATCH = 100_000  # vectors moved per step when rebuilding: bounds the extra memory
_POINTS_PER_LIST = 39  # k-means wants ≥ 39 training points per centroid (faiss warns below)
_REGROW = 4  # retrain the IVF when the index has grown this many times since training


@dataclass(frozen=True)
class VectorIndexPolicy:
    """The index kind the settings ask for, the size where `auto` turns approximate, nprobe."""

    kind: IndexKind = "auto"
    threshold: int = 100_000
    nprobe: int = 16

    @classmethod
    def from_settings(cls, settings: Settings) -> VectorIndexPolicy:
        return cls(settings.index_kind, settings.index_threshold, settings.ivf_nprobe)

    def wants_ivf(self, count: int) -> bool:
        """Whether `count` vectors belong in an IVF index."""
        return self.kind == "ivf" or (self.kind == "auto" and count >= self.threshold)


def flat_index(dim: int) -> faiss.Index:
    """Exact inner-product search over stable 64-bit ids."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def is_ivf(index: faiss.Index) -> bool:
    return isinstance(faiss.downcast_index(index), faiss.IndexIVF)


def configure(index: faiss.Index, policy: VectorIndexPolicy) -> faiss.Index:
    """Apply the query-time setting (nprobe) to a loaded or built index."""
    if is_ivf(index):
        faiss.extract_index_ivf(index).nprobe = policy.nprobe
    return index


def list_count(count: int) -> int:
    """IVF lists for `count` vectors: ~4·√n (1024 at most), with enough points to train each."""
    return max(1, min(1024, round(4 * math.sqrt(count)), count // _POINTS_PER_LIST))


def rebuild_as(index: faiss.Index, policy: VectorIndexPolicy, trained_on: int) -> str | None:
    """`ivf` past the threshold (again once grown 4×), `flat` if set so, None: keep it.

    `auto` keeps an IVF index that deletes took below the threshold: no flapping.
    """
    count = index.ntotal
    if policy.wants_ivf(count):
        outgrown = not is_ivf(index) or count > _REGROW * max(trained_on, 1)
        return "ivf" if count and outgrown else None
    return "flat" if policy.kind == "flat" and is_ivf(index) else None


def _move(source: faiss.Index, ids: np.ndarray, target: faiss.Index) -> None:
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        target.add_with_ids(source.reconstruct_batch(batch), batch)


def build_flat(index: faiss.Index, ids: np.ndarray) -> faiss.Index:
    """A flat index with the same ids and vectors as `index`."""
    flat = flat_index(index.d)
    _move(index, ids, flat)
    return flat


def build_ivf(
    index: faiss.Index, ids: np.ndarray, policy: VectorIndexPolicy, seed: int = 0
) -> faiss.Index:
    """An IVF index with the same ids and vectors as `index` (whose vectors `ids` name)."""
    dim, count = index.d, len(ids)
    nlist = list_count(count)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(ids, min(count, _POINTS_PER_LIST * nlist * 2), replace=False))
    ivf = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(dim),
        dim,
        nlist,
        faiss.ScalarQuantizer.QT_fp16,
        faiss.METRIC_INNER_PRODUCT,
        False,  # by_residual: the vectors themselves, as float16
    )
    ivf.cp.seed = seed
    ivf.train(index.reconstruct_batch(sample))
    # A hashtable direct map: reconstruct and remove by id (ours), not by position.
    ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
    _move(index, ids, ivf)
    logger.info("Rebuilt %d chunk vectors as IVF%d", count, nlist)
    return configure(ivf, policy)
