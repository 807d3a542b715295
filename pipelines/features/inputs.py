"""The rows a snapshot is built from: ``load_inputs`` reads them from the feature input store
(``pipelines.features.store``) and codes every id as an integer, in a few threads."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.calendar import month_number
from pipelines.features.compute import WINDOW, Inputs, shard_hash
from pipelines.features.store import InputStore, as_numpy, leaf_chunks


def _dictionary_codes(columns: Sequence[pa.ChunkedArray]) -> tuple[pa.Array, list[np.ndarray]]:
    """The sorted union of the values of dictionary ``columns``, and each column as positions
    in it (-1: null). Arrow unifies the chunks' dictionaries (one hash lookup per dictionary
    entry); the union is sorted and each row's index mapped with one ``take``."""
    chunks = [c for col in columns for c in col.chunks]
    if not chunks:
        return pa.array([], pa.string()), [np.zeros(0, dtype=np.int64) for _ in columns]
    unified = pa.chunked_array(chunks, type=chunks[0].type).unify_dictionaries()
    dictionary = unified.chunks[0].dictionary
    order = np.asarray(pc.sort_indices(dictionary), dtype=np.int64)
    position = np.empty(len(dictionary) + 1, dtype=np.int64)  # the last: a null index (-1)
    position[order] = np.arange(len(dictionary))
    position[-1] = -1
    codes = [position[as_numpy(pc.fill_null(c.indices, -1))] for c in unified.chunks]
    out, at = [], 0
    for col in columns:
        n = col.num_chunks
        out.append(np.concatenate(codes[at : at + n]) if n else np.zeros(0, dtype=np.int64))
        at += n
    return dictionary.take(pa.array(order)), out


def _key_codes(halves: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[list[np.ndarray], int]:
    """Dense codes of 128-bit keys given as (high, low) uint64 halves, shared by all parts,
    and how many there are. Keys are grouped by their high half; if two different keys share
    it (a 64-bit collision), both halves are coded exactly instead."""
    hi = np.concatenate([h for h, _ in halves]) if halves else np.zeros(0, dtype=np.uint64)
    lo = np.concatenate([low for _, low in halves]) if halves else np.zeros(0, dtype=np.uint64)
    if not len(hi):
        return [np.zeros(0, dtype=np.int64) for _ in halves], 0
    codes, uniques = pd.factorize(hi)
    low_of = np.empty(len(uniques), dtype=np.uint64)
    low_of[codes] = lo
    if (low_of[codes] != lo).any():
        _, codes = np.unique(np.stack([hi, lo], axis=1), axis=0, return_inverse=True)
    codes = np.asarray(codes, dtype=np.int64).ravel()
    bounds = np.cumsum([len(h) for h, _ in halves])[:-1]
    return np.split(codes, bounds), int(codes.max()) + 1


_DTYPE: dict[str, type] = {"key_hi": np.uint64, "key_lo": np.uint64, "value_fen": float}
_CODED = ("seller", "buyer", "firm", "receipt", "pledgee", "lease", "sealed_us", "leaf")
THREADS = max(1, min(4, os.cpu_count() or 1))
"""Threads a snapshot's loading and arithmetic use (Arrow and numpy release the GIL)."""


def _read_kind(
    store: InputStore, source: str, kind: str, as_of: date, since: int | None
) -> tuple[pa.Table, dict[str, np.ndarray], list[np.ndarray]]:
    """One kind's compact rows, its plain columns as numpy (key halves as uint64), and its
    leaves as views of the table's chunks."""
    table = store.read(source, kind, as_of, since)
    frame = {c: as_numpy(table[c], _DTYPE.get(c, np.int64)) for c in table.column_names if c not in _CODED}
    return table, frame, leaf_chunks(table["leaf"])


def load_inputs(lake_uri: str, as_of: date, store: InputStore | None = None) -> Inputs:
    """The rows every feature of ``as_of`` may use: trade and contributions sealed in the 12
    months window (their sealed month cannot be older than their business date), and the
    whole history of warehouse receipts and leases (a status lasts until it changes), from
    the feature input store (``pipelines.features.store``), which compacts a verified month on
    first use. Ids are coded as integers here; ``store`` may be one kept over a run of many
    days."""
    store = store or InputStore(lake_uri)
    since = month_number(as_of) - (WINDOW - 1)
    sc = "supply_chain"
    reads = {
        "invoices": (sc, "invoice", since),
        "waybills": (sc, "logistics", since),
        "payments": (sc, "payment", since),
        "receipts": (sc, "warehouse_receipt", None),
        "leases": (sc, "lease", None),
        "si": ("social_insurance", "contribution", since),
        "hf": ("housing_fund", "contribution", since),
    }
    with ThreadPoolExecutor(THREADS) as pool:
        futures = {
            n: pool.submit(_read_kind, store, source, kind, as_of, first)
            for n, (source, kind, first) in reads.items()
        }
        read = {n: f.result() for n, f in futures.items()}
        tables = {n: t for n, (t, _, _) in read.items()}
        frames = {n: frame for n, (_, frame, _) in read.items()}
        firm_columns = [
            (n, c) for n, t in tables.items() for c in ("seller", "buyer", "firm") if c in t.column_names
        ]
        trade = ("invoices", "waybills", "payments")
        coded = pool.submit(_dictionary_codes, [tables[n][c] for n, c in firm_columns])
        keyed = pool.submit(_key_codes, [(frames[n].pop("key_hi"), frames[n].pop("key_lo")) for n in trade])
        for n, c in (("receipts", "receipt"), ("receipts", "pledgee"), ("leases", "lease")):
            frames[n][c] = _dictionary_codes([tables[n][c]])[1][0]
        start = 0
        for n, t in tables.items():
            frames[n]["row"] = np.arange(start, start + t.num_rows, dtype=np.int64)
            start += t.num_rows
        chunks = [part for _, _, parts in read.values() for part in parts]  # copied once, here
        leaves = np.concatenate(chunks) if chunks else np.zeros((0, 32), dtype=np.uint8)
        firms, codes = coded.result()
        keys, n_keys = keyed.result()
    for (n, c), code in zip(firm_columns, codes, strict=True):
        frames[n][c] = code
    for n, key in zip(trade, keys, strict=True):
        frames[n]["key"] = key
    invoices = frames["invoices"]
    if len(invoices["key"]) and np.bincount(invoices["key"]).max() > 1:
        # one row per invoice: the first on chain
        idx = np.lexsort((invoices["order"], invoices["key"]))
        first = np.ones(len(idx), dtype=bool)
        first[1:] = invoices["key"][idx][1:] != invoices["key"][idx][:-1]
        frames["invoices"] = {k: v[np.sort(idx[first])] for k, v in invoices.items()}
    names = np.asarray(firms.to_numpy(zero_copy_only=False), dtype=object)
    return Inputs(
        firms=names,
        hashes=shard_hash(pd.Series(names, dtype="str")),
        n_keys=n_keys,
        invoices=frames["invoices"],
        waybills=frames["waybills"],
        payments=frames["payments"],
        receipts=frames["receipts"],
        leases=frames["leases"],
        si=frames["si"],
        hf=frames["hf"],
        leaves=leaves,
    )


