"""What is wrong with the registered models, in plain words: the warnings the report shows at
the top of its models section, from the figures the registry keeps of each model's
out-of-time validation (``pipelines.scoring.training.validate_and_register``).

A warning is raised, for each champion and challenger, when

- the Hosmer-Lemeshow test rejects the PDs (p below ``HL_ALPHA``),
- the one-sided Jeffreys test fails in a grade (more defaults than its PD allows, at 95%),
- the observed default rates do not rise from grade to grade out of time,
- the scores moved between training and the out-of-time sample (PSI above ``PSI_LIMIT``),

and, per family, when the challenger ranks risk better out of time than the champion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HL_ALPHA = 0.05
PSI_LIMIT = 0.25
"""The usual reading of a PSI: below 0.1 stable, 0.1 to 0.25 a shift to watch, above 0.25 a
population that is no longer the one the model was built on."""


@dataclass(frozen=True)
class ModelWarning:
    model_id: str
    role: str
    """``pre_loan champion``, ``behaviour challenger``, ..."""
    check: str
    """``hosmer_lemeshow``, ``jeffreys``, ``grades_monotone``, ``psi`` or ``challenger``."""
    finding: str
    """What was measured, with the figure and the line it crossed."""
    meaning: str
    """What it means for whoever uses the model's figures."""


def _role(entry: dict[str, Any]) -> str:
    return f"{entry['family'].replace('_', '-')} {entry['status']}"


def entry_warnings(entry: dict[str, Any]) -> list[ModelWarning]:
    """The warnings of one model's validation figures (``entry['metrics']``)."""
    m = entry.get("metrics", {})
    out: list[ModelWarning] = []

    def add(check: str, finding: str, meaning: str) -> None:
        out.append(ModelWarning(str(entry["model_id"]), _role(entry), check, finding, meaning))

    hl_p = m.get("hosmer_lemeshow_p")
    if isinstance(hl_p, int | float) and hl_p < HL_ALPHA:
        add(
            "hosmer_lemeshow",
            f"Hosmer-Lemeshow test fails out of time: p = {hl_p:.4f} (below {HL_ALPHA:g}).",
            "Across the ten PD bands the observed default rates differ from the predicted PDs more "
            "than chance allows: the PDs are miscalibrated. Do not use them as they are for pricing "
            "or provisions; recalibrate.",
        )
    failed = m.get("jeffreys_failed_grades")
    if failed:
        grades = ", ".join(str(g) for g in failed)
        add(
            "jeffreys",
            f"Jeffreys test fails in grade{'s' if len(failed) > 1 else ''} {grades} (95%).",
            "In these grades more loans defaulted out of time than their PD allows: the model "
            "understates their risk.",
        )
    if m.get("grades_monotone") is False:
        add(
            "grades_monotone",
            "Grades are not monotone out of time: the observed default rate does not rise from "
            "grade to grade.",
            "A better grade does not always mean a lower default rate on new applications: the "
            "master scale does not rank risk as it claims.",
        )
    psi = m.get("psi_train_vs_oot")
    if isinstance(psi, int | float) and psi > PSI_LIMIT:
        add(
            "psi",
            f"Population stability index {psi:.2f}, above {PSI_LIMIT:g}.",
            "The out-of-time applicants' scores are distributed unlike the training applicants': "
            "the population has changed, and figures validated on the training sample may not hold.",
        )
    return out


def challenger_warnings(entries: list[dict[str, Any]]) -> list[ModelWarning]:
    """Per family, a warning when the challenger's out-of-time AUC is above the champion's."""
    out = []
    current = [e for e in entries if e.get("status") in ("champion", "challenger")]
    for family in sorted({e["family"] for e in current}):
        roles = {e["status"]: e for e in current if e["family"] == family}
        champ, chall = roles.get("champion"), roles.get("challenger")
        if champ is None or chall is None:
            continue
        a, b = champ["metrics"].get("auc"), chall["metrics"].get("auc")
        if isinstance(a, int | float) and isinstance(b, int | float) and b > a:
            out.append(
                ModelWarning(
                    str(chall["model_id"]),
                    _role(chall),
                    "challenger",
                    f"The challenger beats the champion out of time: AUC {b:.3f} against {a:.3f} "
                    f"({champ['model_id']}).",
                    "The challenger ranks applicants by risk better on the newest applications; "
                    "review it for promotion, or find out why the champion fell behind.",
                )
            )
    return out


def model_warnings(entries: list[dict[str, Any]]) -> list[ModelWarning]:
    """Every warning of the registry's current models (champions and challengers; retired
    models are history), champions first."""
    current = [e for e in entries if e.get("status") in ("champion", "challenger")]
    current.sort(key=lambda e: (e["family"] != "pre_loan", e["family"], e["status"] != "champion"))
    return [w for e in current for w in entry_warnings(e)] + challenger_warnings(entries)
