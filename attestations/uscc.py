"""Unified Social Credit Codes (GB 32100-2015): the 18-character firm identifier."""

from __future__ import annotations

from functools import lru_cache

CODE_SET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_INDEX = {c: i for i, c in enumerate(CODE_SET)}


def check_character(first17: str) -> str:
    """Return the check character for the first 17 characters of a code.

    Raises:
        ValueError: ``first17`` is not 17 characters of the code set.
    """
    if len(first17) != 17 or any(c not in _INDEX for c in first17):
        raise ValueError(f"expected 17 characters of {CODE_SET!r}, got {first17!r}")
    total = sum(_INDEX[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CODE_SET[(31 - total % 31) % 31]


def is_valid_uscc(code: object) -> bool:
    """True when ``code`` is 18 characters of the code set with a correct check character."""
    return isinstance(code, str) and _valid_str(code)


@lru_cache(maxsize=1 << 17)
def _valid_str(code: str) -> bool:
    # Firm ids repeat across thousands of records: remember the verdict per string.
    if len(code) != 18 or any(c not in _INDEX for c in code):
        return False
    return check_character(code[:17]) == code[17]


def make_uscc(first17: str) -> str:
    """Complete 17 characters of the code set into a valid 18-character code."""
    return first17 + check_character(first17)
