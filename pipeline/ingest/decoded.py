"""What every reader returns: lake-shaped rows not yet validated, plus parse-level rejects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

REJECT_COLUMNS = ["source_line", "rule", "detail", "raw"]


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_line": pd.Series([], dtype="int64"),
            "rule": pd.Series([], dtype="str"),
            "detail": pd.Series([], dtype="str"),
            "raw": pd.Series([], dtype="str"),
        }
    )


@dataclass
class Decoded:
    """Output of one reader for one file.

    ``records`` counts the file's units of accounting (CSV/Parquet data rows; NMEA complete
    messages and rejected lines) so that the run summary can prove nothing was lost.
    ``raw_of`` returns the original text of given source lines, for quarantine records of
    rows rejected after decoding; readers that keep a ``raw`` column may leave it out.
    """

    positions: pd.DataFrame | pa.Table
    static: pd.DataFrame | None
    rejects: pd.DataFrame
    records: int
    other_types: dict[int, int] = field(default_factory=dict)
    header_lines: int = 0
    raw_of: Callable[[np.ndarray], list[str]] | None = None
    layout: str = ""
    # decoded CSV/Parquet carry identity on every position row: static rows are derived
    # from the accepted positions after validation instead of being records of their own
    static_from_positions: bool = False
