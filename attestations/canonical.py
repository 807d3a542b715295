"""RFC 8785 (JCS) canonical JSON, and a strict JSON parser for attested data.

``canonicalize`` takes a fast path through the C JSON encoder when the value holds no
float and no object key outside the Basic Multilingual Plane: for such values the encoder
with sorted keys and ``ensure_ascii=False`` emits exactly the JCS bytes (JCS sorts keys by
UTF-16 code units, which agrees with code-point order inside the BMP, and escapes the same
characters). Everything else goes to the ``rfc8785`` package, which implements the ES6
number serialisation.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from attestations.errors import CanonicalizationError

MAX_SAFE_INTEGER = 2**53 - 1

_encode_fast = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise CanonicalizationError(f"repeated member name {repeated!r}")
    return obj


def reject_constant(name: str) -> Any:
    """``parse_constant`` hook that refuses NaN and Infinity."""
    raise CanonicalizationError(f"{name} is not a JSON value")


_strict_decoder = json.JSONDecoder(object_pairs_hook=_pairs_hook, parse_constant=reject_constant)


def loads_strict(text: str) -> Any:
    """Parse one JSON text, rejecting repeated member names, NaN and Infinity.

    Raises:
        CanonicalizationError: the text is not strict JSON.
    """
    try:
        return _strict_decoder.decode(text)
    except CanonicalizationError:
        raise
    except (ValueError, RecursionError) as exc:
        raise CanonicalizationError(f"not JSON: {exc}") from None


def _fast_path_ok(value: Any, depth: int = 0) -> bool:
    """True when the C encoder's output is the JCS output; raises on non-JSON values."""
    if depth > 200:
        raise CanonicalizationError("value nested too deeply")
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise CanonicalizationError(f"integer {value} is outside the I-JSON safe range")
        return True
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        ok = True
        for key, member in value.items():
            if not isinstance(key, str):
                raise CanonicalizationError(f"object key {key!r} is not a string")
            if not key.isascii() and any(ord(c) > 0xFFFF for c in key):
                ok = False
            ok = _fast_path_ok(member, depth + 1) and ok
        return ok
    if isinstance(value, list | tuple):
        ok = True
        for item in value:
            ok = _fast_path_ok(item, depth + 1) and ok
        return ok
    raise CanonicalizationError(f"{type(value).__name__} is not a JSON type")


def canonicalize(obj: Any) -> bytes:
    """Return the RFC 8785 canonical serialisation of ``obj`` as UTF-8 bytes.

    Raises:
        CanonicalizationError: ``obj`` holds a non-JSON value, a non-finite float, an
            integer beyond 2^53 - 1 in magnitude, or a lone surrogate.
    """
    if _fast_path_ok(obj):
        try:
            return _encode_fast(obj).encode("utf-8")
        except UnicodeEncodeError:
            raise CanonicalizationError("string holds a lone surrogate") from None
    try:
        return bytes(rfc8785.dumps(obj))
    except Exception as exc:  # the library raises several unrelated types
        raise CanonicalizationError(f"cannot canonicalize: {exc}") from None


def canonicalize_checked(obj: Any) -> bytes:
    """RFC 8785 bytes of a value already known to hold only strings, safe-range integers,
    booleans, nulls, lists and objects whose keys lie in the BMP (a validated record):
    the C encoder's output, without the type walk of ``canonicalize``.

    Raises:
        CanonicalizationError: a string holds a lone surrogate.
    """
    try:
        return _encode_fast(obj).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalizationError("string holds a lone surrogate") from None


def is_canonical(text: str) -> bool:
    """True when ``text`` is strict JSON and exactly its own RFC 8785 serialisation."""
    try:
        return canonicalize(loads_strict(text)) == text.encode("utf-8")
    except (CanonicalizationError, UnicodeEncodeError):
        return False
