"""A hand-made world with one defaulted loan, and its pack, built once per session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.evidence import handmade


@pytest.fixture(scope="session")
def hand_world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The hand-made world's Settings (tests that write must use their own lake copy)."""
    return handmade.build(tmp_path_factory.mktemp("hand-world"))


@pytest.fixture(scope="session")
def evidence_key() -> Any:
    from pipelines.evidence import load_signing_key, new_key_pem

    return load_signing_key(new_key_pem())


@pytest.fixture(scope="session")
def hand_pack(hand_world: Any, evidence_key: Any) -> dict[str, bytes]:
    """Every file of the hand-made loan's pack, in memory."""
    from pipelines.evidence import build_packs

    packs = dict(build_packs(hand_world, evidence_key, handmade.AS_OF, [handmade.LOAN]))
    return packs[handmade.LOAN]


def write_folder(files: dict[str, bytes], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder
