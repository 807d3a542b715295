"""Provenance library for `sme-ledger-export/1` bundles (docs/ledger-export-v1.md).

Both sides of the format live here: the consortium's writer (``attestations.ledger``) and
the bank's verifier (``attestations.verifier``). The package depends only on the standard
library, ``cryptography`` and ``rfc8785``: no pandas, no Airflow, nothing else of ours.
"""

FORMAT = "sme-ledger-export/1"
