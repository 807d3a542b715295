"""The one parser of records.jsonl lines (spec section 5): a line becomes a ``ProofLine`` with
its four members typed, or is quarantined as ``line_invalid``."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import orjson

from attestations.canonical import reject_constant
from attestations.reasons import Reason
from attestations.verifier.outcome import QuarantinedLine

NOT_AN_OBJECT = "line is not a JSON object with height, index, leaf and proof"
WRONG_TYPE = "height, index, leaf or proof has the wrong type"

_STR_ONLY = {str}


class ProofLine(NamedTuple):
    """A records.jsonl line whose ``height`` and ``index`` (here ``leaf_index``, as ``tuple.index``
    is taken) are integers, ``leaf`` a string
    and ``proof`` a list; the proof's entries are checked where they are read
    (``entries_invalid``)."""

    line_no: int
    raw: bytes
    height: int
    leaf_index: int
    leaf: str
    proof: list[Any]


_new_tuple = tuple.__new__  # builds a ProofLine in C: the named constructor is a Python call


def _reference_loads(raw: bytes) -> Any:
    """A line orjson refuses, parsed by the standard parser, or None when it is not JSON.

    orjson refuses some valid JSON (integers beyond 64 bits, escaped lone surrogates, deep
    nesting): the standard parser decides those, NaN and Infinity still refused."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def parse_line(line_no: int, raw: bytes) -> ProofLine | QuarantinedLine:
    """Line ``line_no`` of records.jsonl as a ``ProofLine``, or quarantined as ``line_invalid``."""
    try:
        line = orjson.loads(raw)
    except orjson.JSONDecodeError:
        line = _reference_loads(raw)
    try:
        height, index, leaf, proof = line["height"], line["index"], line["leaf"], line["proof"]
    except (TypeError, KeyError):
        return QuarantinedLine(line_no, Reason.LINE_INVALID, NOT_AN_OBJECT, raw)
    if type(height) is int and type(index) is int and type(leaf) is str and type(proof) is list:
        return _new_tuple(ProofLine, (line_no, raw, height, index, leaf, proof))
    if float in (type(height), type(index)):
        return _exact_integers(line_no, raw)
    return QuarantinedLine(line_no, Reason.LINE_INVALID, WRONG_TYPE, raw)


def _exact_integers(line_no: int, raw: bytes) -> ProofLine | QuarantinedLine:
    """orjson reads an integer beyond 64 bits as a float: the standard parser keeps it exact,
    so that spec section 8 decides it (``unknown_block``, ``index_out_of_range``); a number
    written with a fraction or an exponent stays a float and ``line_invalid``."""
    line = _reference_loads(raw)
    height, index, leaf, proof = line["height"], line["index"], line["leaf"], line["proof"]
    if type(height) is int and type(index) is int and type(leaf) is str and type(proof) is list:
        return _new_tuple(ProofLine, (line_no, raw, height, index, leaf, proof))
    return QuarantinedLine(line_no, Reason.LINE_INVALID, WRONG_TYPE, raw)


def entries_invalid(line: ProofLine) -> QuarantinedLine | None:
    """The line quarantined as ``line_invalid`` when an entry of its proof is not a string.

    Apart from ``parse_line`` because the whole-block path needs no such check: it accepts
    only a proof equal to an audit path it computed, whose entries are strings."""
    if set(map(type, line.proof)) <= _STR_ONLY:
        return None
    return QuarantinedLine(line.line_no, Reason.LINE_INVALID, WRONG_TYPE, line.raw)
