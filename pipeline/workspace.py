"""The workspace: one root that holds landing/, lake/, reports/ and the embedded database.

The root comes from ``--home``, else ``$VESSEL_RISK_HOME``, else ``./var`` (see DESIGN.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

HOME_ENV = "VESSEL_RISK_HOME"
DEFAULT_HOME = Path("var")


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace; creating the object touches nothing on disk."""

    home: Path

    @classmethod
    def resolve(cls, home: str | Path | None = None) -> Workspace:
        """Pick the root from the argument, the environment, or the default, in that order."""
        chosen = home or os.environ.get(HOME_ENV) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def lake(self) -> Path:
        return self.home / "lake"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    def report_dir(self, day: date) -> Path:
        return self.reports / day.isoformat()

    @property
    def database_path(self) -> Path:
        return self.home / "vessel_risk.sqlite"
