"""The analyst's controls of a scorecard, checked against the training data and resolved per
feature: hand-set bins (``user_splits``), the bad-rate trend (``monotonic_trend``), special
values (``special_codes``) and bins reused from an earlier card (``fixed_bins``). Every
mistake is one ``BinningError`` line naming the feature and the parameter."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError

from models.binning import OTHER, TRENDS, BinningError, Code, FeatureBins

CARD_FORMAT = "smecredit-scorecard/1"
BINS_FORMAT = "smecredit-scorecard-bins/1"
DEFAULT = "*"  # the key of monotonic_trend's dict that sets the trend of every feature not named


@dataclass(frozen=True)
class FeaturePlan:
    """What the analyst asked for one feature."""

    trend: str | None = "auto"
    cuts: tuple[float, ...] | None = None
    groups: tuple[tuple[str, ...], ...] | None = None
    specials: tuple[Code, ...] = ()


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def _check_names(param: str, names: Any, columns: Sequence[str], allow: tuple[str, ...] = ()) -> None:
    unknown = [n for n in names if n not in columns and n not in allow]
    if unknown:
        raise BinningError(f"{param} names features that are not in the data: {sorted(map(str, unknown))}")


def _trend(value: Any, where: str) -> str | None:
    if value is None or (isinstance(value, str) and value in TRENDS):
        return None if value is None else str(value)
    raise BinningError(
        f"{where} must be one of 'auto', 'ascending', 'descending', 'peak', 'valley' or None, got {value!r}"
    )


def trends(monotonic_trend: Any, numeric: Mapping[str, bool]) -> dict[str, str | None]:
    """The trend of every feature: a numeric one gets the value given (or the dict's entry, its
    ``"*"`` entry, else ``"auto"``); a categorical one has none (its groups have no order)."""
    if isinstance(monotonic_trend, Mapping):
        _check_names("monotonic_trend", monotonic_trend, list(numeric), allow=(DEFAULT,))
        default = _trend(monotonic_trend.get(DEFAULT, "auto"), f"monotonic_trend[{DEFAULT!r}]")
        out: dict[str, str | None] = {}
        for name, is_num in numeric.items():
            asked = _trend(monotonic_trend.get(name, default), f"monotonic_trend[{name!r}]")
            if not is_num and name in monotonic_trend and asked not in (None, "auto"):
                raise BinningError(
                    f"monotonic_trend[{name!r}] = {asked!r}, but {name!r} is categorical: "
                    "its groups have no order"
                )
            out[name] = asked if is_num else None
        return out
    one = _trend(monotonic_trend, "monotonic_trend")
    return {name: one if is_num else None for name, is_num in numeric.items()}


def _cuts(name: str, cuts: Any) -> tuple[float, ...]:
    if isinstance(cuts, str | bytes) or not isinstance(cuts, Sequence | np.ndarray):
        raise BinningError(f"user_splits[{name!r}] must be a list of cut points, got {cuts!r}")
    if not all(_is_number(c) and math.isfinite(float(c)) for c in cuts):
        raise BinningError(
            f"user_splits[{name!r}]: {name!r} is numeric, its cuts must be finite numbers: {cuts!r}"
        )
    ordered = sorted(float(c) for c in cuts)
    if len(set(ordered)) < len(ordered):
        raise BinningError(f"user_splits[{name!r}] repeats a cut: {list(cuts)!r}")
    return tuple(ordered)


def _groups(name: str, groups: Any) -> tuple[tuple[str, ...], ...]:
    def is_list(v: Any) -> bool:
        return isinstance(v, Sequence | np.ndarray) and not isinstance(v, str | bytes)

    if not is_list(groups) or not groups or not all(is_list(g) and len(g) for g in groups):
        raise BinningError(
            f"user_splits[{name!r}]: {name!r} is categorical, give its bins as non-empty lists of "
            f'categories, e.g. [["a", "b"], ["c"]]; got {groups!r}'
        )
    made = tuple(tuple(str(c) for c in g) for g in groups)
    every = [c for g in made for c in g]
    twice = sorted({c for c in every if every.count(c) > 1})
    if twice:
        raise BinningError(f"user_splits[{name!r}] puts categories in more than one group: {twice}")
    return made


def _codes(name: str, codes: Any, numeric: bool, per_feature: bool) -> tuple[Code, ...]:
    """The special values that apply to one feature: numbers for a numeric feature, text for a
    categorical one (from a list for every feature, numbers apply to numeric features only and
    text to categorical ones; given for one feature, a categorical's codes are read as text)."""
    where = f"special_codes[{name!r}]" if per_feature else "special_codes"
    if isinstance(codes, str | bytes) or not isinstance(codes, Sequence | np.ndarray):
        raise BinningError(f"{where} must be a list of values, got {codes!r}")
    out: list[Code] = []
    for code in codes:
        if (
            code is None
            or isinstance(code, bool | np.bool_)
            or not (_is_number(code) or isinstance(code, str))
        ):
            raise BinningError(f"{where}: a special value is a number or a text, got {code!r}")
        if _is_number(code) and not math.isfinite(float(code)):
            raise BinningError(
                f"{where}: {code!r} is not a special value (missing values have their own bin)"
            )
        if numeric and isinstance(code, str):
            if per_feature:
                raise BinningError(f"{where}: {name!r} is numeric, {code!r} is text")
            continue
        if not numeric and _is_number(code) and not per_feature:
            continue
        value: Code = float(code) if numeric else str(code)
        if value not in out:
            out.append(value)
    return tuple(out)


def plan(
    numeric: Mapping[str, bool], *, user_splits: Any, monotonic_trend: Any, special_codes: Any
) -> dict[str, FeaturePlan]:
    """Every feature's plan (``numeric``: each feature of the data, and whether it is numeric)."""
    asked = trends(monotonic_trend, numeric)
    splits: Mapping[str, Any] = {} if user_splits is None else user_splits
    if not isinstance(splits, Mapping):
        raise BinningError(
            f"user_splits must be a dict of feature: cuts (or groups), got {type(splits).__name__}"
        )
    _check_names("user_splits", splits, list(numeric))
    per_feature = isinstance(special_codes, Mapping)
    if per_feature:
        _check_names("special_codes", special_codes, list(numeric))
    out = {}
    for name, is_num in numeric.items():
        codes: Any = special_codes.get(name, ()) if per_feature else (special_codes or ())
        specials = _codes(name, codes, is_num, per_feature)
        cuts = _cuts(name, splits[name]) if is_num and name in splits else None
        groups = _groups(name, splits[name]) if not is_num and name in splits else None
        clash = sorted({c for g in groups or () for c in g} & {str(c) for c in specials})
        if clash:
            raise BinningError(
                f"feature {name!r}: {clash} are special values and also in a group of user_splits"
            )
        if groups is not None and OTHER in {str(c) for c in specials}:
            raise BinningError(
                f"feature {name!r}: {OTHER!r} names the unlisted categories, not a special value"
            )
        out[name] = FeaturePlan(asked[name], cuts, groups, specials)
    return out


def fixed_doc(fixed: Any) -> dict[str, Any] | None:
    """The bins of ``fixed_bins`` (a fitted card, its JSON text or parsed JSON, or the output
    of this function) as ``{"format", "features", "bins"}``: the selected features and their
    bins only, so a card refitted on reused bins does not carry the whole earlier card."""
    if fixed is None:
        return None
    if hasattr(fixed, "to_json"):
        try:
            fixed = fixed.to_json()
        except NotFittedError as exc:
            raise BinningError(
                "fixed_bins is a card that is not fitted: give a fitted card or its JSON"
            ) from exc
    if isinstance(fixed, str | bytes):
        try:
            fixed = json.loads(fixed)
        except ValueError as exc:
            raise BinningError(f"fixed_bins is not a scorecard's JSON: {exc}") from exc
    if not isinstance(fixed, Mapping) or fixed.get("format") not in (CARD_FORMAT, BINS_FORMAT):
        raise BinningError(f"fixed_bins must be a fitted card or a {CARD_FORMAT} JSON document")
    try:
        features = [str(f) for f in fixed["features"]]
        bins = {f: FeatureBins.from_dict(fixed["bins"][f]).to_dict() for f in features}
    except (KeyError, TypeError, ValueError) as exc:
        raise BinningError(f"fixed_bins: the document's bins are incomplete ({exc!r})") from exc
    return {"format": BINS_FORMAT, "features": features, "bins": bins}


def fixed(
    doc: dict[str, Any],
    numeric: Mapping[str, bool],
    *,
    user_splits: Any,
    monotonic_trend: Any,
    special_codes: Any,
) -> dict[str, FeatureBins]:
    """The bins to reuse, each checked against the data (present, of the same kind)."""
    given = [
        p
        for p, v, unset in (
            ("user_splits", user_splits, None),
            ("special_codes", special_codes, None),
            ("monotonic_trend", monotonic_trend, "auto"),
        )
        if v != unset
    ]
    if given:
        raise BinningError(
            f"fixed_bins reuses every bin as it is; it cannot be combined with {', '.join(given)}"
        )
    _check_names("fixed_bins", doc["features"], list(numeric))
    out = {}
    for name in doc["features"]:
        bins = FeatureBins.from_dict(doc["bins"][name])
        if (bins.kind == "numeric") != numeric[name]:
            now = "numeric" if numeric[name] else "categorical"
            raise BinningError(
                f"fixed_bins: {name!r} was {bins.kind} in the earlier card and is {now} in the data"
            )
        out[name] = bins
    return out
