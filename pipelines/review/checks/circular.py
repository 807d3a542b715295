"""The circular-trade check."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.review.checks.base import Case, Check


def circular_trade(case: Case, check: Check) -> None:
    """Does the applicant trade in a ring, selling round amounts around a cycle of firms?

    On the chain: every firm's sale invoices of the last 12 months of at least
    ``ring_min_amount_fen`` in whole multiples of ``ring_round_fen``, as a directed graph
    from seller to buyer. The applicant fails when it sits in a strongly connected component
    of more than one firm (``scipy.sparse.csgraph``): money can go round.

    Finding: the size of the cycle and its invoices. Figures: ``ring_size`` (0 outside a
    ring), ``ring_members`` and ``ring_value_fen`` inside one. Evidence: the invoices
    between the ring's members.
    """
    firm, day = case.firm, case.day
    edges = case.known(case.view.ring_edges)
    edges = edges[(edges["issued_on"] > day - timedelta(days=365)) & (edges["issued_on"] <= day)]
    if firm not in set(edges["seller"]) or edges.empty:
        check.figures = {"ring_size": 0}
        return
    nodes = pd.Index(pd.unique(pd.concat([edges["seller"], edges["buyer"]], ignore_index=True)))
    src, dst = nodes.get_indexer(edges["seller"]), nodes.get_indexer(edges["buyer"])
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(len(nodes), len(nodes))).tocsr()
    _, label = connected_components(graph, directed=True, connection="strong")
    mine = label[nodes.get_loc(firm)]
    members = set(nodes[label == mine])
    check.figures = {"ring_size": len(members) if len(members) > 1 else 0}
    if len(members) > 1:
        cycle = edges[edges["seller"].isin(members) & edges["buyer"].isin(members)]
        check.cite(cycle)
        check.figures["ring_members"] = sorted(members)
        check.figures["ring_value_fen"] = int(cycle["amount_fen"].sum())
        check.worse(
            "fail",
            f"the applicant trades in a cycle of {len(members)} firms by round-amount invoices "
            f"({len(cycle)} invoices in 12 months)",
        )
