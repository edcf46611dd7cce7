"""Shared fixtures: the repository, the fer binary, and ../shared/data (tests
that need it print SKIPPED and pass when it is absent, as the Rust tests do)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        print("SKIPPED: ../shared/data is absent on this machine")
        pytest.skip("../shared/data is absent")
    return SHARED


@pytest.fixture(scope="session")
def fer_bin() -> Path:
    """The CLI built from the same tree (run-tests builds it)."""
    path = Path(os.environ.get("FER_BIN", REPO / "target" / "release" / "fer"))
    if not path.exists():
        subprocess.run(["cargo", "build", "--release", "--bin", "fer"], cwd=REPO, check=True)
    return path


@pytest.fixture(scope="session")
def reader():
    import fer_rs

    return fer_rs.Reader()
