"""llama-index's index store without dataclasses-json's cost on a big IndexDict.

A VectorStoreIndex keeps one IndexDict (an entry per chunk). llama-index's SimpleIndexStore
decodes it entry by entry with dataclasses-json at load, then encodes it again whenever the
index adds it: at load and after each insert or delete. At 100k chunks that is ~2.5 s of a
load on 2 cores, ten times that at 1M. This store keeps the struct as the object, writes
llama-index's own JSON (the same file, index_store.json) only when persisted, and reads and
writes an IndexDict as the plain dict it is; other index structs go through llama-index.
A struct's JSON text leaves the key-value store once decoded (at 1M chunks a 94 MiB string
the struct duplicates), and is in it only while persisted.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from typing import Any

from llama_index.core.constants import DATA_KEY, TYPE_KEY
from llama_index.core.data_structs.data_structs import IndexDict, IndexStruct
from llama_index.core.data_structs.struct_type import IndexStructType
from llama_index.core.storage.index_store.simple_index_store import SimpleIndexStore
from llama_index.core.storage.index_store.utils import index_struct_to_json, json_to_index_struct
from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore

_INDEX_DICT_FIELDS = tuple(f.name for f in fields(IndexDict))


class IndexDictStore(SimpleIndexStore):
    """SimpleIndexStore that serialises its index structs when persisted, not when added."""

    def __init__(self, simple_kvstore: SimpleKVStore | None = None) -> None:
        super().__init__(simple_kvstore)
        self._structs: dict[str, IndexStruct] = {}

    def add_index_struct(self, index_struct: IndexStruct) -> None:
        self._structs[index_struct.index_id] = index_struct

    def delete_index_struct(self, key: str) -> None:
        self._structs.pop(key, None)
        super().delete_index_struct(key)

    def get_index_struct(self, struct_id: str | None = None) -> IndexStruct | None:
        if struct_id is None:
            structs = self.index_structs()
            assert len(structs) == 1
            return structs[0]
        if struct_id not in self._structs:
            stored = self._kvstore.get(struct_id, collection=self._collection)
            if stored is None:
                return None
            self._take(struct_id, stored)
        return self._structs[struct_id]

    def index_structs(self) -> list[IndexStruct]:
        for key, stored in self._kvstore.get_all(collection=self._collection).items():
            if key not in self._structs:
                self._take(key, stored)
        return list(self._structs.values())

    def _take(self, key: str, stored: dict) -> None:
        """Decode a stored struct and keep it as the object only."""
        self._structs[key] = _decode(stored)
        self._kvstore.delete(key, collection=self._collection)

    def persist(self, persist_path: str = "", fs: Any = None) -> None:
        for struct in self._structs.values():
            self._kvstore.put(struct.index_id, _encode(struct), collection=self._collection)
        super().persist(persist_path, fs=fs)
        for key in self._structs:
            self._kvstore.delete(key, collection=self._collection)


def _encode(struct: IndexStruct) -> dict:
    """llama-index's `index_struct_to_json`: the struct's type, and its fields as a JSON text."""
    if type(struct) is not IndexDict:
        return index_struct_to_json(struct)
    data = {name: getattr(struct, name) for name in _INDEX_DICT_FIELDS}
    return {TYPE_KEY: struct.get_type(), DATA_KEY: json.dumps(data)}


def _decode(stored: dict) -> IndexStruct:
    """llama-index's `json_to_index_struct`, an IndexDict read as the dict it is."""
    data = stored[DATA_KEY]
    if stored[TYPE_KEY] != IndexStructType.VECTOR_STORE or not isinstance(data, str):
        return json_to_index_struct(stored)
    values = json.loads(data)
    # A FAISS-backed index maps each node id to itself: one string for both (JSON parses the
    # value as a second copy; ~90 MiB at 1M chunks), interned as the FAISS id map's are.
    nodes = values.get("nodes_dict", {})
    values["nodes_dict"] = {
        (k := sys.intern(key)): k if key == value else value for key, value in nodes.items()
    }
    return IndexDict(**{name: values[name] for name in _INDEX_DICT_FIELDS if name in values})
