"""The validated settings object: ``config/settings.yaml`` + reference files + environment.

Everything a Port Intelligence Unit tunes lives in the config directory, so a new region or a
new departure point is a config edit, never a code change. Bad configuration fails at load time
with one ``ConfigError`` that names the file, the field and the problem, so the person who
edited it can fix it without reading code.

Adding a section for a new stage (events, features, scoring, alerts ...): write a pydantic
sub-model deriving from ``Section`` and add it as a field of ``StageSections``; it is then read
from settings.yaml, overridable from the environment and exposed as ``settings.<section>``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import shapely
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from shapely.geometry.base import BaseGeometry

from pipeline.geo import DistanceIndex, buffer_point_km, build_distance_index

ENV_CONFIG_DIR = "VESSEL_RISK_CONFIG"
ENV_HOME = "VESSEL_RISK_HOME"
ENV_DB_URL = "VESSEL_RISK_DB_URL"
ENV_PREFIX = "VESSEL_RISK__"
SETTINGS_FILE = "settings.yaml"
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
SQLITE_FILE = "vessel_risk.db"

LOCODE_RE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")
ZoneRole = Literal["departure", "holding_area", "destination", "landing"]
ZONE_ROLES: tuple[str, ...] = get_args(ZoneRole)


class ConfigError(Exception):
    """Configuration is missing or invalid; the message says which file, which field, why."""


# --------------------------------------------------------------------------- settings.yaml


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors so that typos are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkspaceSettings(Section):
    """Root of landing/, lake/, reports/ and the embedded database (the layout below it is
    pipeline.workspace.Workspace)."""

    home: Path = Path("./var")


class DatabaseSettings(Section):
    """SQLAlchemy URL; null in the file means a SQLite file in the workspace (filled on load)."""

    url: str | None = None


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


class CsvMapping(Section):
    """Column layout of a decoded-CSV export: lake column -> the export's column name."""

    mmsi: str
    timestamp: str
    lat: str
    lon: str
    sog_kn: str | None = None
    cog_deg: str | None = None
    heading_deg: str | None = None
    name: str | None = None
    imo: str | None = None
    call_sign: str | None = None
    ship_type: str | None = None
    length_m: str | None = None
    width_m: str | None = None
    draught_m: str | None = None
    destination: str | None = None
    nav_status: str | None = None
    transceiver_class: str | None = None
    timestamp_format: str | None = None
    timestamp_tz: str = "UTC"

    @field_validator("timestamp_tz")
    @classmethod
    def _valid_tz(cls, v: str) -> str:
        return _check_tz(v)

    def columns(self) -> dict[str, str]:
        """Lake column -> source column, for the columns this export has."""
        meta = {"timestamp_format", "timestamp_tz"}
        return {k: v for k, v in self.model_dump().items() if k not in meta and v is not None}

    def rename_map(self) -> dict[str, str]:
        """Source column -> lake column (for ``DataFrame.rename``)."""
        return {v: k for k, v in self.columns().items()}


class IngestSettings(Section):
    future_timestamp_tolerance_h: float = Field(default=6.0, gt=0)
    max_raw_chars: int = Field(default=2000, ge=80)
    # NMEA messages without a time of their own take the receiver's $--ZDA clock where two
    # readings at most this far apart (seconds, lines) surround them; null: never
    nmea_zda_clock_max_gap_s: float | None = Field(default=5.0, gt=0)
    nmea_zda_clock_max_lines: int = Field(default=1000, ge=1)
    csv_mappings: dict[str, CsvMapping] = Field(default_factory=dict)


class RegionSelection(Section):
    active: list[str] | None = None  # None = every region in the region files


class ReferencePaths(Section):
    """Reference files, relative to the config directory (absolute paths also work)."""

    region_files: list[str] = Field(default_factory=lambda: ["regions.geojson"], min_length=1)
    zone_files: list[str] = Field(default_factory=lambda: ["zones.geojson"])
    ports_file: str = "ports.csv"
    anchorages_file: str = "anchorages.csv"
    land_file: str = "land.geojson"
    lanes_file: str = "lanes.geojson"
    mid_file: str = "mid.csv"


SIMULATED_KINDS = ("cargo", "tanker", "fishing", "ferry", "tug", "anchored")


class SimulateSettings(Section):
    """``vessel-risk simulate``: synthetic regional AIS with hidden smuggling (pipeline/simulate).

    Rates are per AIS report unless the name says otherwise; see pipeline/simulate/reception.py.
    """

    vessels: int = Field(default=200, ge=1)  # default fleet size when --vessels is not given
    smuggling_fraction: float = Field(default=0.02, ge=0, le=0.5)  # scenarios per vessel
    kind_mix: dict[str, float] = Field(
        default_factory=lambda: {
            "cargo": 0.2, "tanker": 0.08, "fishing": 0.47, "ferry": 0.06, "tug": 0.07,
            "anchored": 0.12,
        }
    )
    # Received Class A under-way interval = ITU nominal (2/6/10 s) x this factor.
    class_a_underway_thinning: float = Field(default=3.0, ge=1)
    coastal_coverage_km: float = Field(default=60.0, gt=0)  # full terrestrial reception
    satellite_only_beyond_km: float = Field(default=120.0, gt=0)  # passes only beyond this
    position_noise_m: float = Field(default=8.0, ge=0)
    duplicate_rate: float = Field(default=0.004, ge=0, le=0.2)
    late_rate: float = Field(default=0.01, ge=0, le=0.5)
    glitch_rate: float = Field(default=0.0002, ge=0, le=0.01)
    invalid_vessel_fraction: float = Field(default=0.01, ge=0, le=0.2)  # junk MMSI / lat 91
    port_call_omission_rate: float = Field(default=0.1, ge=0, le=1)
    port_call_mismatch_rate: float = Field(default=0.06, ge=0, le=1)
    incident_report_fraction: float = Field(default=0.5, ge=0, le=1)
    # Region id -> 12 monthly multipliers (Jan..Dec) of the smuggling rate; absent = 1.
    season_by_month: dict[str, list[float]] = Field(
        default_factory=lambda: {
            "andaman-sea": [1.0, 0.6, 0.5, 0.35, 0.1, 0.0, 0.0, 0.0, 0.0, 0.8, 1.0, 1.0]
        }
    )

    @field_validator("kind_mix")
    @classmethod
    def _kinds(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(set(v) - set(SIMULATED_KINDS))
        if bad:
            raise ValueError(f"unknown vessel kind(s) {bad}; known: {list(SIMULATED_KINDS)}")
        if any(x < 0 for x in v.values()) or sum(v.values()) <= 0:
            raise ValueError("kind_mix weights must be >= 0 and not all 0")
        return v

    @field_validator("season_by_month")
    @classmethod
    def _months(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for region, vals in v.items():
            if len(vals) != 12 or any(x < 0 for x in vals):
                raise ValueError(f"{region}: 12 multipliers >= 0 (Jan..Dec) expected")
        return v


class EventSettings(Section):
    """``vessel-risk detect``: thresholds of the track builder and the event detectors.

    Defaults follow Global Fishing Watch where it publishes them, and are tuned tighter where
    small-boat transfers near departure beaches must be caught (GFW suppresses those).
    """

    lookback_days: int = Field(default=1, ge=0, le=7)  # earlier days read for events crossing midnight
    max_implied_speed_kn: float = Field(default=50.0, gt=0)  # faster jumps are position glitches
    segment_gap_h: float = Field(default=6.0, gt=0)  # a silence this long splits a track
    night_sun_elevation_deg: float = Field(default=-6.0, ge=-18, le=0)  # night: sun below this
    loiter_max_sog_kn: float = Field(default=2.0, gt=0)
    loiter_min_duration_h: float = Field(default=1.0, gt=0)
    loiter_zone_max_distance_km: float = Field(default=20.0, ge=0)  # zone_id: departure within
    zone_dwell_min_duration_h: float = Field(default=0.25, gt=0)  # shorter stays are passages
    dark_gap_min_h: float = Field(default=6.0, gt=0)
    dark_gap_near_departure_km: float = Field(default=50.0, ge=0)  # vanished near a departure
    dark_gap_toward_destination_deg: float = Field(default=30.0, gt=0, le=90)  # heading to a destination
    dark_gap_toward_max_miss_km: float = Field(default=100.0, gt=0)  # ... whose course passes this close
    dark_gap_reception_window_h: float = Field(default=6.0, gt=0)  # reception measured before the gap
    dark_gap_reception_radius_km: float = Field(default=50.0, gt=0)  # neighbours within about this
    encounter_max_distance_m: float = Field(default=500.0, gt=0)
    encounter_min_duration_h: float = Field(default=0.5, gt=0)
    encounter_max_sog_kn: float = Field(default=3.0, gt=0)
    encounter_min_port_distance_km: float = Field(default=3.0, ge=0)  # GFW uses 10 km
    encounter_time_step_min: float = Field(default=10.0, gt=0, le=60)  # resampling grid step
    encounter_max_interp_gap_h: float = Field(default=1.0, gt=0)  # no interpolation across longer silences
    encounter_max_crowd_vessels: int = Field(default=8, ge=2)  # more vessels within ~1 cell: a mooring
    port_enter_km: float = Field(default=3.0, gt=0)
    port_exit_km: float = Field(default=4.0, gt=0)
    port_call_match_tolerance_h: float = Field(default=6.0, ge=0)  # declared call vs AIS visit times
    port_call_match_km: float = Field(default=10.0, gt=0)  # declared port to the visited port/anchorage
    heading_min_duration_h: float = Field(default=2.0, gt=0)
    heading_max_bearing_error_deg: float = Field(default=20.0, gt=0, le=90)
    heading_min_sog_kn: float = Field(default=3.0, ge=0)
    heading_min_closing_share: float = Field(default=0.7, ge=0, le=1)  # of the distance sailed
    heading_max_miss_km: float = Field(default=50.0, gt=0)  # course line passes this close to the area
    identity_min_jumps_per_day: int = Field(default=3, ge=1)  # impossible jumps: two vessels, one MMSI

    @model_validator(mode="after")
    def _exit_beyond_enter(self) -> EventSettings:
        if self.port_exit_km < self.port_enter_km:
            raise ValueError(
                f"port_exit_km ({self.port_exit_km}) must not be below port_enter_km "
                f"({self.port_enter_km}): a vessel would leave a port before entering it"
            )
        return self


class RuleWeight(Section):
    """One rule of the baseline score: its weight and the evidence at which it is full."""

    weight: float = Field(ge=0)
    full_at: float = Field(gt=0)  # in the unit of the rule's evidence (hours, count ...)


def _default_rules() -> dict[str, RuleWeight]:
    return {
        "night_at_departure_h": RuleWeight(weight=3.0, full_at=4.0),
        "dark_after_departure": RuleWeight(weight=3.0, full_at=1.0),
        "deliberate_dark_h": RuleWeight(weight=2.0, full_at=12.0),
        "heading_to_destination_h": RuleWeight(weight=2.0, full_at=2.0),
        "encounter_night_h": RuleWeight(weight=1.5, full_at=1.0),
        "identity_conflicts": RuleWeight(weight=2.0, full_at=1.0),
        "loiter_night_h": RuleWeight(weight=1.0, full_at=4.0),
        "port_call_mismatches": RuleWeight(weight=0.5, full_at=1.0),
    }


class ModelSettings(Section):
    """Hyper-parameters of the HistGradientBoostingClassifier and its calibration."""

    learning_rate: float = Field(default=0.08, gt=0, le=1)  # shrinkage per boosting iteration
    max_iter: int = Field(default=150, ge=1)  # boosting iterations (trees)
    max_leaf_nodes: int = Field(default=15, ge=2)  # leaves per tree
    min_samples_leaf: int = Field(default=20, ge=1)  # vessel-days per leaf at least
    l2_regularization: float = Field(default=1.0, ge=0)
    class_weight: Literal["balanced", "none"] = "balanced"  # imbalance: re-weight the classes
    calibration: Literal["sigmoid", "isotonic"] = "sigmoid"  # probability calibration method
    calibration_folds: int = Field(default=3, ge=2)  # grouped (by MMSI) folds for calibration
    logistic_c: float = Field(default=1.0, gt=0)  # inverse regularisation of the LR reference
    random_state: int = 0


LabelSource = Literal["disposition", "incident", "simulator"]


def _default_label_sources() -> list[LabelSource]:
    return ["disposition", "incident"]


class TrainingSettings(Section):
    """What ``vessel-risk train`` learns from and how it splits time."""

    label_sources: list[LabelSource] = Field(
        default_factory=_default_label_sources)  # priority order, first wins
    incident_days_before: int = Field(default=3, ge=0)  # days before an incident labelled 1
    min_match_confidence: float = Field(default=0.5, ge=0, le=1)  # weaker matches: no label
    unlabelled_as_negative: bool = True  # a vessel-day no source labels counts as 0
    test_days: int = Field(default=7, ge=1)  # held-out window: the last days of the data
    gap_days: int = Field(default=1, ge=0)  # days dropped between train and test windows
    test_vessel_share: float = Field(default=0.5, gt=0, lt=1)  # vessels held out (by MMSI)
    promotion_margin: float = Field(default=0.02, ge=0)  # challenger PR-AUC must beat by this
    psi_bins: int = Field(default=10, ge=2)  # reference histogram bins per feature (drift)
    drift_psi_threshold: float = Field(default=0.25, gt=0)  # PSI above this flags drift
    drift_days: int = Field(default=7, ge=1)  # recent days compared with the training window
    # when more than this share of the features drifted, the day is outside what the champion
    # learned: the rule baseline scores it instead (and the summary says so); 1 = never
    drift_fallback_share: float = Field(default=0.5, gt=0, le=1)


class ScoringSettings(Section):
    """``vessel-risk score``: the transparent rule baseline (the fall-back and the yardstick
    of every model). Each rule turns one piece of evidence into 0..1 (full at ``full_at``);
    the score is the weighted mean of the rules. The champion model of ``models_dir``
    scores instead once one is promoted."""

    rules: dict[str, RuleWeight] = Field(default_factory=_default_rules)
    reasons_per_score: int = Field(default=3, ge=1, le=10)
    # a model's reason "came within X km of a departure point" only below this distance
    reason_departure_within_km: float = Field(default=30.0, gt=0)
    models_dir: Path | None = None  # model registry; null: the repository's models/
    model: ModelSettings = Field(default_factory=ModelSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: dict[str, RuleWeight]) -> dict[str, RuleWeight]:
        from pipeline.scoring.rules import RULES

        unknown = sorted(set(value) - set(RULES))
        if unknown:
            raise ValueError(f"unknown rule(s) {unknown}; known: {sorted(RULES)}")
        if not any(r.weight > 0 for r in value.values()):
            raise ValueError("at least one rule needs a weight above 0")
        return value


class LabelSettings(Section):
    """``vessel-risk labels match``: where and when a reported vessel is looked for, and how
    much each identifier in an incident report counts towards a match."""

    match_days_before: int = Field(default=14, ge=0)  # vessels seen up to this long before ...
    match_days_after: int = Field(default=2, ge=0)  # ... and after the incident date
    match_place_km: float = Field(default=100.0, gt=0)  # "near the reported position"
    weight_mmsi: float = Field(default=0.9, gt=0, le=1)
    weight_imo: float = Field(default=0.9, gt=0, le=1)
    weight_call_sign: float = Field(default=0.7, gt=0, le=1)
    weight_name: float = Field(default=0.5, gt=0, le=1)
    weight_near_position: float = Field(default=0.5, ge=0, le=1)


class WebSettings(Section):
    """``vessel-risk serve``: the analysts' review application (pipeline/web).

    The session-signing secret comes from the environment variable named here, else from a
    file in the workspace that the app generates (mode 0600) on first start, so a secret never
    sits in the config directory or the repository.
    """

    host: str = "127.0.0.1"  # default bind address of `vessel-risk serve`
    port: int = Field(default=8080, ge=1, le=65535)
    secret_env: str = Field(default="VESSEL_RISK_WEB_SECRET", min_length=1)
    secret_file: str = Field(default="web_secret", min_length=1)  # relative to the workspace
    session_lifetime_h: float = Field(default=12.0, gt=0, le=720)  # sign in again after this
    secure_cookies: bool = False  # true when served over HTTPS (cookie sent on HTTPS only)
    map_default_hours: int = Field(default=48, ge=1, le=720)  # track window on the alert map
    map_max_hours: int = Field(default=336, ge=1, le=2160)
    history_days: int = Field(default=90, ge=1, le=3650)  # port calls / incidents looked up


def _default_event_evidence() -> dict[str, float]:
    return {
        "zone_dwell": 1.0, "dark_gap": 1.0, "encounter": 1.0, "heading_to_destination": 1.0,
        "identity_conflict": 1.0, "loiter": 0.5, "port_visit": 0.0,
    }


class AlertSettings(Section):
    """``vessel-risk alert``: how the scored day becomes the analysts' alert list.

    Evidence strength of a vessel-day = sum over its events of the event type's weight x
    (1 + ``evidence_night_factor`` x the event's share at night). A vessel alerted within
    ``suppress_days`` is alerted again only with a new kind of evidence (an event type with a
    weight above 0 that its earlier alerts did not have) or evidence at least
    ``stronger_evidence_ratio`` times its earlier strength.
    """

    min_score: float = Field(default=0.3, ge=0, le=1)  # score (0..1) a vessel needs to alert
    # Alerts a day the analysts can work, per region id; 'default' for regions not listed and
    # vessels outside every region. Watchlist hits come on top of this.
    daily_capacity: dict[str, int] = Field(default_factory=lambda: {"default": 20})
    suppress_days: int = Field(default=7, ge=0, le=365)
    stronger_evidence_ratio: float = Field(default=1.5, ge=1)
    evidence_weight_by_event_type: dict[str, float] = Field(
        default_factory=_default_event_evidence
    )
    evidence_night_factor: float = Field(default=1.0, ge=0)

    @field_validator("daily_capacity")
    @classmethod
    def _capacity(cls, v: dict[str, int]) -> dict[str, int]:
        if "default" not in v:
            raise ValueError("needs a 'default' capacity (regions not listed)")
        if any(n < 0 for n in v.values()):
            raise ValueError("capacities must be >= 0")
        return v

    @field_validator("evidence_weight_by_event_type")
    @classmethod
    def _event_types(cls, v: dict[str, float]) -> dict[str, float]:
        from pipeline.schemas import EVENT_TYPES

        unknown = sorted(set(v) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {list(EVENT_TYPES)}")
        if any(w < 0 for w in v.values()):
            raise ValueError("weights must be >= 0")
        return v

    def capacity(self, region: str | None) -> int:
        """Alerts a day for a region (the default when the region is not listed)."""
        return self.daily_capacity.get(region or "default", self.daily_capacity["default"])


class StageSections(Section):
    """Sections passed to the stages unchanged. A new stage adds its sub-model here."""

    workspace: WorkspaceSettings = Field(default_factory=WorkspaceSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    simulate: SimulateSettings = Field(default_factory=SimulateSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    web: WebSettings = Field(default_factory=WebSettings)


class SettingsFile(StageSections):
    """The schema of settings.yaml."""

    regions: RegionSelection = Field(default_factory=RegionSelection)
    reference: ReferencePaths = Field(default_factory=ReferencePaths)


# --------------------------------------------------------------------------- reference data


@dataclass(frozen=True, eq=False)
class Zone:
    """A configured place: departure point, offshore holding area, destination or landing."""

    id: str
    region: str
    name: str
    country: str | None
    role: str
    geometry: BaseGeometry  # as configured, lon/lat: Point (+ radius_km) or (Multi)Polygon
    radius_km: float | None
    area: BaseGeometry  # the polygon used for membership: geodesic circle or the polygon
    provenance: str  # the public reports (or PIU source) naming the place, verbatim
    coord_note: str | None
    source_file: str

    @property
    def centre(self) -> tuple[float, float]:
        """(lat, lon) of the point, or a point inside a drawn polygon."""
        g = (
            self.geometry
            if self.geometry.geom_type == "Point"
            else (self.geometry.representative_point())
        )
        return float(g.y), float(g.x)


@dataclass(frozen=True, eq=False)
class Region:
    """An area of responsibility with its flag states and configured zones."""

    id: str
    name: str
    timezone: str
    flag_mids: list[int]
    aor: BaseGeometry  # Polygon or MultiPolygon, lon/lat
    countries: list[str] = field(default_factory=list)
    description: str | None = None
    zones: tuple[Zone, ...] = ()

    def zones_by_role(self, role: str) -> list[Zone]:
        return [z for z in self.zones if z.role == role]

    @property
    def departure_points(self) -> list[Zone]:
        return self.zones_by_role("departure")

    @property
    def holding_areas(self) -> list[Zone]:
        return self.zones_by_role("holding_area")

    @property
    def destinations(self) -> list[Zone]:
        return self.zones_by_role("destination")

    @property
    def landings(self) -> list[Zone]:
        return self.zones_by_role("landing")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Port:
    locode: str | None
    name: str
    country: str
    lat: float
    lon: float
    harbor_size: str | None = None


class _RegionProps(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1)
    timezone: str
    flag_mids: list[int] = Field(min_length=1)
    countries: list[str] = Field(default_factory=list)
    description: str | None = None

    @field_validator("timezone")
    @classmethod
    def _valid_tz(cls, v: str) -> str:
        return _check_tz(v)

    @field_validator("flag_mids")
    @classmethod
    def _mids(cls, v: list[int]) -> list[int]:
        bad = [m for m in v if not 201 <= m <= 775]
        if bad:
            raise ValueError(f"MIDs must be within 201..775, got {bad}")
        return v


class _ZoneProps(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    region: str = Field(min_length=1)
    name: str = Field(min_length=1)
    country: str | None = None
    role: ZoneRole
    radius_km: float | None = Field(default=None, gt=0, le=500)
    coord_note: str | None = None
    source: str = Field(min_length=1)


# --------------------------------------------------------------------------- the settings object


class Settings(StageSections):
    """Validated settings plus the reference data of the active regions.

    The stage sections (workspace, database, ingest, ...) come from ``StageSections``; land and
    lanes are loaded on first use because only some stages need them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    config_dir: Path
    reference: ReferencePaths
    active_regions: tuple[str, ...]
    regions: dict[str, Region]
    ports: pd.DataFrame
    anchorages: pd.DataFrame
    mid_table: dict[int, tuple[str, str | None]]
    port_by_locode: dict[str, Port]

    _cache: dict[str, Any] = PrivateAttr(default_factory=dict)

    # -- zones -------------------------------------------------------------------------------
    @property
    def zones(self) -> list[Zone]:
        """Every zone of the active regions."""
        return [z for r in self.regions.values() for z in r.zones]

    def zone(self, zone_id: str) -> Zone | None:
        return next((z for z in self.zones if z.id == zone_id), None)

    # -- ports -------------------------------------------------------------------------------
    def resolve_port(self, text: str | None) -> Port | None:
        """Port for a UN/LOCODE ('IDCXP', 'ID CXP', case-insensitive) or an exact port name.

        Names are matched case-insensitively against the main and alternate names; a name shared
        by several ports is ambiguous and gives None (use the LOCODE).
        """
        if text is None:
            return None
        key = " ".join(str(text).split())
        if not key:
            return None
        code = key.replace(" ", "").upper()
        if code in self.port_by_locode:
            return self.port_by_locode[code]
        by_name: dict[str, Port | None] = self._cache.get("ports_by_name") or {}
        if "ports_by_name" not in self._cache:
            by_name = _ports_by_name(self.ports)
            self._cache["ports_by_name"] = by_name
        return by_name.get(key.casefold())

    def resolve_port_call(self, text: str) -> tuple[str, str] | None:
        """(locode, port name) for port-call ingest; None when unknown or without a LOCODE
        (the port_calls table needs a LOCODE)."""
        port = self.resolve_port(text)
        return (port.locode, port.name) if port is not None and port.locode else None

    # -- lazily loaded geometry ----------------------------------------------------------------
    def land(self) -> BaseGeometry:
        """Land polygons (dissolved, lon/lat), loaded on first call and cached."""
        if "land" not in self._cache:
            path = self._ref_path(self.reference.land_file)
            geoms = [g for _, g, _ in _read_features(path)]
            land = shapely.union_all(geoms)
            shapely.prepare(land)
            self._cache["land"] = land
        cached: BaseGeometry = self._cache["land"]
        return cached

    def land_index(self) -> DistanceIndex:
        """Distance index over the land boundary, for fast distance-to-shore queries."""
        if "land_index" not in self._cache:
            self._cache["land_index"] = build_distance_index(self.land())
        index: DistanceIndex = self._cache["land_index"]
        return index

    def lanes(self) -> Any:
        """Shipping lanes as a GeoDataFrame (EPSG:4326), loaded on first call."""
        if "lanes" not in self._cache:
            import geopandas as gpd

            path = self._ref_path(self.reference.lanes_file)
            rows = [{**props, "geometry": g} for _, g, props in _read_features(path)]
            self._cache["lanes"] = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
        return self._cache["lanes"]

    def flag_of_mmsi(self, mmsi: int) -> tuple[str, str | None] | None:
        """(country, iso2) of an MMSI's MID, or None when the MID is not allocated."""
        return (
            self.mid_table.get(int(mmsi) // 1_000_000)
            if 100_000_000 <= mmsi <= 999_999_999
            else None
        )

    def _ref_path(self, name: str) -> Path:
        return self.config_dir / name


# --------------------------------------------------------------------------- loading


def load_settings(
    config_dir: Path | str | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Load and validate the configuration; raise ``ConfigError`` on any problem.

    ``config_dir`` defaults to ``$VESSEL_RISK_CONFIG``, else the repository's ``config/``.
    ``env`` defaults to ``os.environ`` (pass a dict in tests).
    """
    env = os.environ if env is None else env
    cdir = Path(config_dir or env.get(ENV_CONFIG_DIR) or DEFAULT_CONFIG_DIR).expanduser()
    if not cdir.is_dir():
        raise ConfigError(f"{_disp(cdir)}: config directory not found")
    cdir = cdir.resolve()
    spath = cdir / SETTINGS_FILE
    raw = _read_yaml(spath)
    from_env = _apply_env(raw, env)
    try:
        sf = SettingsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation(spath, exc, SettingsFile, from_env)) from None

    home = sf.workspace.home.expanduser()
    home = home if home.is_absolute() else (Path.cwd() / home)
    workspace = sf.workspace.model_copy(update={"home": home})
    db_url = sf.database.url or f"sqlite:///{home / SQLITE_FILE}"
    database = sf.database.model_copy(update={"url": db_url})

    ref = sf.reference
    for fld in ("ports_file", "anchorages_file", "land_file", "lanes_file", "mid_file"):
        _require_file(spath, f"reference.{fld}", cdir / getattr(ref, fld))
    for fld in ("region_files", "zone_files"):
        for i, name in enumerate(getattr(ref, fld)):
            _require_file(spath, f"reference.{fld}[{i}]", cdir / name)

    all_regions = _load_regions([cdir / n for n in ref.region_files])
    if sf.regions.active is None:
        active = tuple(all_regions)
    else:
        unknown = [r for r in sf.regions.active if r not in all_regions]
        if unknown:
            raise ConfigError(
                f"{_disp(spath)}: regions.active names unknown region(s) {unknown}; "
                f"known: {sorted(all_regions)}"
            )
        active = tuple(dict.fromkeys(sf.regions.active))
    zones = _load_zones([cdir / n for n in ref.zone_files], all_regions)
    regions = {
        rid: _with_zones(all_regions[rid], [z for z in zones if z.region == rid]) for rid in active
    }
    ports = _load_ports(cdir / ref.ports_file)
    anchorages = _load_anchorages(cdir / ref.anchorages_file)
    mid_table = _load_mid(cdir / ref.mid_file)
    port_by_locode: dict[str, Port] = {}
    for r in ports.itertuples(index=False):
        if r.locode:
            port_by_locode.setdefault(str(r.locode), _port(r))
    sections = {name: getattr(sf, name) for name in StageSections.model_fields}
    sections.update(workspace=workspace, database=database)
    # model_construct: every part is validated above, and re-validating would copy the
    # shapely/pandas objects for nothing.
    return Settings.model_construct(
        **sections,
        config_dir=cdir,
        reference=ref,
        active_regions=active,
        regions=regions,
        ports=ports,
        anchorages=anchorages,
        mid_table=mid_table,
        port_by_locode=port_by_locode,
    )


def _disp(path: Path) -> str:
    """Path as the user will recognise it: relative to the working directory when possible."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _require_file(settings_path: Path, field_name: str, path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"{_disp(settings_path)}: {field_name}: file not found: {_disp(path)}")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{_disp(path)}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{_disp(path)}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{_disp(path)}: top level must be a mapping of sections")
    return data


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Apply environment overrides to the raw settings; return {dotted path: variable}."""
    applied: dict[tuple[str, ...], str] = {}
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX):
            continue
        path = tuple(p.lower() for p in var[len(ENV_PREFIX) :].split("__"))
        if not all(path):
            raise ConfigError(
                f"environment {var}: malformed name (use VESSEL_RISK__SECTION__FIELD)"
            )
        _set_path(raw, path, _parse_env_value(env[var]), var)
        applied[path] = var
    if env.get(ENV_HOME):
        _set_path(raw, ("workspace", "home"), env[ENV_HOME], ENV_HOME)
        applied[("workspace", "home")] = ENV_HOME
    if env.get(ENV_DB_URL):
        _set_path(raw, ("database", "url"), env[ENV_DB_URL], ENV_DB_URL)
        applied[("database", "url")] = ENV_DB_URL
    return applied


def _parse_env_value(value: str) -> Any:
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _set_path(raw: dict[str, Any], path: tuple[str, ...], value: Any, var: str) -> None:
    node = raw
    for part in path[:-1]:
        nxt = node.setdefault(part, {})
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"environment {var}: {part!r} is not a section")
        node = nxt
    node[path[-1]] = value


# --------------------------------------------------------------------------- error messages


def _loc_str(loc: Sequence[int | str]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _allowed_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str] | None:
    """Field names of the model that holds ``loc[-1]``, to suggest the right spelling."""
    cur: Any = model
    for p in loc[:-1]:
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            f = cur.model_fields.get(str(p))
            if f is None:
                return None
            cur = f.annotation
        elif get_origin(cur) is dict:
            cur = get_args(cur)[1]
        elif get_origin(cur) is list:
            cur = get_args(cur)[0]
        else:
            args = [a for a in get_args(cur) if a is not type(None)]
            if len(args) == 1 and isinstance(args[0], type) and issubclass(args[0], BaseModel):
                cur = args[0].model_fields.get(str(p))
                cur = cur.annotation if cur else None
            else:
                return None
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        return list(cur.model_fields)
    args = [a for a in get_args(cur) if isinstance(a, type) and issubclass(a, BaseModel)]
    return list(args[0].model_fields) if args else None


def _problem(err: Mapping[str, Any], model: type[BaseModel] | None) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    loc = err["loc"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc) if model else None
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"is not a known setting{hint}"
    if kind == "missing":
        return "is required"
    ops = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in ops:
        bound = next(iter(ctx.values()))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)  # "> 0", not "> 0.0"
        return f"must be {ops[kind]} {bound}, got {value!r}"
    msg = str(err["msg"])
    msg = re.sub(r"^Value error, ", "", msg)
    msg = re.sub(r"^Input should be ", "must be ", msg)
    if kind == "value_error":
        return msg
    return f"{msg}, got {value!r}"


def _format_validation(
    path: Path,
    exc: ValidationError,
    model: type[BaseModel] | None = None,
    from_env: Mapping[tuple[str, ...], str] | None = None,
    prefix: str = "",
) -> str:
    parts = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        text = f"{_loc_str(loc)} {_problem(err, model)}" if loc else _problem(err, model)
        for p, var in (from_env or {}).items():
            if tuple(str(x).lower() for x in loc[: len(p)]) == p:
                text += f" (set by environment {var})"
        parts.append(text)
    return f"{_disp(path)}: {prefix}" + "; ".join(parts)


# --------------------------------------------------------------------------- GeoJSON


def _read_features(path: Path) -> list[tuple[str, BaseGeometry, dict[str, Any]]]:
    """(label, geometry, properties) per feature; label is 'feature i (id ...)' for messages."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{_disp(path)}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{_disp(path)}: not valid GeoJSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ConfigError(f"{_disp(path)}: not a GeoJSON FeatureCollection")
    feats = doc.get("features")
    if not isinstance(feats, list):
        raise ConfigError(f"{_disp(path)}: 'features' must be a list")
    out = []
    for i, feat in enumerate(feats):
        props = feat.get("properties") if isinstance(feat, dict) else None
        props = props if isinstance(props, dict) else {}
        label = f"feature {i}" + (f" (id {props['id']!r})" if props.get("id") else "")
        gj = feat.get("geometry") if isinstance(feat, dict) else None
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise ConfigError(f"{_disp(path)}: {label}: not a GeoJSON Feature")
        if not gj:
            raise ConfigError(f"{_disp(path)}: {label}: geometry is missing")
        try:
            geom = shapely.from_geojson(json.dumps(gj))
        except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
            raise ConfigError(f"{_disp(path)}: {label}: invalid geometry: {exc}") from None
        if geom is None or geom.is_empty:
            raise ConfigError(f"{_disp(path)}: {label}: geometry is empty")
        xy = shapely.get_coordinates(geom)
        bad = ~(np.isfinite(xy).all(axis=1) & (np.abs(xy[:, 0]) <= 180) & (np.abs(xy[:, 1]) <= 90))
        if bad.any():
            lon, lat = xy[bad][0]
            raise ConfigError(
                f"{_disp(path)}: {label}: coordinates out of range (lon must be within "
                f"-180..180, lat within -90..90), got lon={lon}, lat={lat}"
            )
        if not geom.is_valid:
            raise ConfigError(
                f"{_disp(path)}: {label}: invalid geometry: {shapely.is_valid_reason(geom)}"
            )
        out.append((label, geom, props))
    return out


def _load_regions(paths: Iterable[Path]) -> dict[str, Region]:
    regions: dict[str, Region] = {}
    origin: dict[str, str] = {}
    for path in paths:
        for label, geom, props in _read_features(path):
            try:
                p = _RegionProps.model_validate(props)
            except ValidationError as exc:
                raise ConfigError(_format_validation(path, exc, prefix=f"{label}: ")) from None
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise ConfigError(
                    f"{_disp(path)}: {label}: geometry must be a Polygon or MultiPolygon "
                    f"(the area of responsibility), got {geom.geom_type}"
                )
            if p.id in regions:
                raise ConfigError(
                    f"{_disp(path)}: {label}: duplicate region id {p.id!r} "
                    f"(already defined in {origin[p.id]})"
                )
            shapely.prepare(geom)
            regions[p.id] = Region(
                id=p.id,
                name=p.name,
                timezone=p.timezone,
                flag_mids=list(p.flag_mids),
                aor=geom,
                countries=list(p.countries),
                description=p.description,
            )
            origin[p.id] = f"{_disp(path)} {label}"
    return regions


def _load_zones(paths: Iterable[Path], regions: Mapping[str, Region]) -> list[Zone]:
    zones: list[Zone] = []
    origin: dict[str, str] = {}
    for path in paths:
        for label, geom, props in _read_features(path):
            where = f"{_disp(path)}: {label}"
            try:
                p = _ZoneProps.model_validate(props)
            except ValidationError as exc:
                raise ConfigError(_format_validation(path, exc, prefix=f"{label}: ")) from None
            if p.region not in regions:
                raise ConfigError(
                    f"{where}: region {p.region!r} is not defined in the region files "
                    f"(known: {sorted(regions)})"
                )
            if p.id in origin:
                raise ConfigError(f"{where}: duplicate zone id {p.id!r} (first in {origin[p.id]})")
            if geom.geom_type == "Point":
                if p.radius_km is None:
                    raise ConfigError(f"{where}: radius_km is required for a Point zone")
                area = buffer_point_km(geom.y, geom.x, p.radius_km)
            elif geom.geom_type in ("Polygon", "MultiPolygon"):
                if p.radius_km is not None:
                    raise ConfigError(
                        f"{where}: radius_km applies only to Point zones; a Polygon zone is "
                        f"used as drawn (remove radius_km, got {p.radius_km})"
                    )
                area = geom
            else:
                raise ConfigError(
                    f"{where}: geometry must be a Point (with radius_km) or a Polygon/"
                    f"MultiPolygon, got {geom.geom_type}"
                )
            anchor = geom if geom.geom_type == "Point" else geom.representative_point()
            if not regions[p.region].aor.intersects(anchor):
                raise ConfigError(
                    f"{where}: lies outside the area of responsibility of region {p.region!r} "
                    f"(lon={anchor.x:.4f}, lat={anchor.y:.4f}; swapped lat/lon?)"
                )
            shapely.prepare(area)
            zones.append(
                Zone(
                    id=p.id,
                    region=p.region,
                    name=p.name,
                    country=p.country,
                    role=p.role,
                    geometry=geom,
                    radius_km=p.radius_km,
                    area=area,
                    provenance=p.source,
                    coord_note=p.coord_note,
                    source_file=_disp(path),
                )
            )
            origin[p.id] = f"{_disp(path)} {label}"
    return zones


def _with_zones(region: Region, zones: list[Zone]) -> Region:
    return Region(
        id=region.id,
        name=region.name,
        timezone=region.timezone,
        flag_mids=region.flag_mids,
        aor=region.aor,
        countries=region.countries,
        description=region.description,
        zones=tuple(zones),
    )


# --------------------------------------------------------------------------- CSV tables


def _read_csv(path: Path, required: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """Read a reference CSV whose leading '#' lines are attribution; return (frame, skipped)."""
    try:
        with path.open(encoding="utf-8") as fh:
            skip = 0
            for line in fh:
                if not line.startswith("#"):
                    break
                skip += 1
        df = pd.read_csv(path, skiprows=skip, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ConfigError(f"{_disp(path)}: file not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{_disp(path)}: not a readable CSV: {exc}") from None
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ConfigError(f"{_disp(path)}: missing column(s) {missing}; found {list(df.columns)}")
    return df, skip


def _coords(path: Path, df: pd.DataFrame, skip: int, key: str) -> pd.DataFrame:
    """Parse lat/lon as floats and reject out-of-range values with the file line number."""
    for col, lim in (("lat", 90.0), ("lon", 180.0)):
        vals = pd.to_numeric(df[col].str.strip(), errors="coerce")
        bad = ~vals.between(-lim, lim)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ConfigError(
                f"{_disp(path)}: line {skip + 2 + i} ({key} {df[key].iloc[i]!r}): {col} must be "
                f"a number within -{lim:g}..{lim:g}, got {df[col].iloc[i]!r}"
            )
        df[col] = vals.astype("float64")
    return df


def _load_ports(path: Path) -> pd.DataFrame:
    df, skip = _read_csv(path, ["locode", "name", "country", "lat", "lon"])
    df = _coords(path, df, skip, "name")
    loc = df["locode"].str.replace(" ", "", regex=False).str.strip().str.upper()
    bad = (loc != "") & ~loc.str.match(LOCODE_RE.pattern)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ConfigError(
            f"{_disp(path)}: line {skip + 2 + i} (name {df['name'].iloc[i]!r}): locode must be "
            f"a 5-character UN/LOCODE such as 'IDCXP', got {df['locode'].iloc[i]!r}"
        )
    # A LOCODE may cover several WPI entries (a port and its terminal, e.g. THSRI); LOCODE
    # lookups return the first row listed, so file order is the priority.
    df["locode"] = pd.Series([c or None for c in loc], index=df.index, dtype=object)
    if "harbor_size" not in df.columns:
        df["harbor_size"] = ""
    df["name"] = df["name"].str.strip()
    return df.reset_index(drop=True)


def _port(r: Any) -> Port:
    return Port(
        locode=(r.locode if isinstance(r.locode, str) and r.locode else None),
        name=str(r.name),
        country=str(r.country),
        lat=float(r.lat),
        lon=float(r.lon),
        harbor_size=(str(r.harbor_size) or None),
    )


def _ports_by_name(ports: pd.DataFrame) -> dict[str, Port | None]:
    """casefolded name -> Port, or None when several ports share the name (ambiguous)."""
    out: dict[str, Port | None] = {}
    owner: dict[str, int] = {}
    cols = ["name"] + (["alternate_name"] if "alternate_name" in ports.columns else [])
    for i, r in enumerate(ports.itertuples(index=False)):
        port = _port(r)
        for c in cols:
            for nm in str(getattr(r, c) or "").split(";"):
                k = " ".join(nm.split()).casefold()
                if not k:
                    continue
                if k in owner and owner[k] != i:
                    out[k] = None
                else:
                    out[k], owner[k] = port, i
    return out


def _load_anchorages(path: Path) -> pd.DataFrame:
    df, skip = _read_csv(path, ["label", "lat", "lon"])
    key = "s2id" if "s2id" in df.columns else "id" if "id" in df.columns else None
    if key is None:
        raise ConfigError(f"{_disp(path)}: missing column 's2id' (or 'id')")
    return _coords(path, df, skip, key).reset_index(drop=True)


def _load_mid(path: Path) -> dict[int, tuple[str, str | None]]:
    df, skip = _read_csv(path, ["mid", "country"])
    mids = pd.to_numeric(df["mid"], errors="coerce")
    bad = ~mids.between(200, 799) | (mids % 1 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ConfigError(
            f"{_disp(path)}: line {skip + 2 + i}: mid must be a 3-digit number, "
            f"got {df['mid'].iloc[i]!r}"
        )
    iso = df["iso2"] if "iso2" in df.columns else pd.Series([""] * len(df))
    return {
        int(m): (str(c), (str(s).strip().upper() or None))
        for m, c, s in zip(mids, df["country"], iso, strict=True)
        if not math.isnan(m)
    }
