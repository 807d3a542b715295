"""Evidence packs for defaulted loans (docs/evidence.md): the builder. The offline checker
is ``attestations.evidence``."""

from pipelines.evidence.keys import load_signing_key, new_key_pem, write_key
from pipelines.evidence.pack import (
    NPL_COLUMNS,
    build_pack,
    build_packs,
    evidence_root,
    existing_packs,
    npl_rows,
    pending_defaults,
    read_pack_files,
    write_loan_packs,
    write_npl_csv,
    write_pack,
    write_packs,
)
from pipelines.evidence.select import EvidenceError, default_dates

__all__ = [
    "NPL_COLUMNS",
    "EvidenceError",
    "build_pack",
    "build_packs",
    "default_dates",
    "evidence_root",
    "existing_packs",
    "load_signing_key",
    "new_key_pem",
    "npl_rows",
    "pending_defaults",
    "read_pack_files",
    "write_key",
    "write_loan_packs",
    "write_npl_csv",
    "write_pack",
    "write_packs",
]
