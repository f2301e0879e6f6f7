"""Shared fixtures: a fresh workspace per test and the paths of the real samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.lake import Lake

DATA = Path(__file__).parent / "data"
NOAA_SLICE = DATA / "ais" / "noaa_marinecadastre_2022-01-03_slice.csv"


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")
