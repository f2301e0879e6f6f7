"""Arrow schemas of every lake table: the one source of truth for columns, types and meaning.

Readers, writers, validators and tests all use these objects. Every field carries a
``doc`` entry in its metadata so that ``vessel-risk schema TABLE`` and the README can
print what a column means. Times are UTC and tz-aware; partitions are UTC dates.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

TS = pa.timestamp("us", tz="UTC")

# How a row's ``timestamp`` was obtained (column ``time_source`` of positions and
# vessel_static). The order is the dictionary of the column: code i is TIME_SOURCES[i].
TIME_SOURCES = (
    "tag_block",  # NMEA 4.0 tag block c: (seconds or ms) in front of the sentence
    "pghp",  # the $PGHP header just before the message
    "trailing_epoch",  # epoch seconds/ms after the sentence's checksum
    "vsi",  # the $--VSI naming the message by talker and sequence id (dated by $--ZDA or --date)
    "zda_clock",  # the receiver's clock: the latest $--ZDA before it, where ZDAs are dense
    "row",  # the time column of a decoded CSV / Parquet row
    "date_only",  # no time at all: the --date option at 00:00 UTC (the time is unknown)
)
TIME_SOURCE_TYPE = pa.dictionary(pa.int8(), pa.string())
DATE_ONLY = "date_only"


def time_source_array(codes: npt.ArrayLike) -> pa.DictionaryArray:
    """The ``time_source`` column from codes into TIME_SOURCES (int8, no copy for int8)."""
    idx = pa.array(np.asarray(codes, dtype=np.int8), type=pa.int8())
    return pa.DictionaryArray.from_arrays(idx, pa.array(TIME_SOURCES, pa.string()))


def real_time(table: pa.Table) -> pa.ChunkedArray | None:
    """True for rows whose ``timestamp`` is a real time (not ``date_only``); None when every
    row's is (no ``time_source`` column, e.g. rows ingested before it existed, or none is
    date_only). Tracks, events and time-based features keep only these rows."""
    if "time_source" not in table.column_names:
        return None
    col = table.column("time_source")
    date_only = pc.fill_null(pc.equal(col, DATE_ONLY), False)
    if not pc.any(date_only).as_py():
        return None
    return pc.invert(date_only)


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


_TIME_SOURCE_DOC = (
    "How timestamp was obtained: tag_block (NMEA 4.0 tag block c:), pghp ($PGHP header), "
    "trailing_epoch (epoch after the checksum), vsi ($--VSI naming the message), zda_clock "
    "(the receiver's $--ZDA clock just before it, where the clock readings are dense), row "
    "(the time column of a CSV or Parquet row), date_only (no time at all: --date at 00:00 "
    "UTC; kept in the lake for presence, left out of tracks, events and time-based "
    "features). Null: ingested before the column existed (taken as a real time)."
)

POSITIONS = pa.schema(
    [
        _f("mmsi", pa.int64(), "Maritime Mobile Service Identity (9-digit ship MMSI, MID 201-775).", False),
        _f("timestamp", TS, "Time the position was received (UTC).", False),
        _f("lat", pa.float64(), "Latitude, decimal degrees WGS84, -90..90.", False),
        _f("lon", pa.float64(), "Longitude, decimal degrees WGS84, -180..180.", False),
        _f("sog_kn", pa.float32(), "Speed over ground in knots; null when 'not available' (102.3)."),
        _f("cog_deg", pa.float32(), "Course over ground in degrees true, 0..<360; null when not available (360)."),
        _f("heading_deg", pa.float32(), "True heading in degrees 0..359; null when not available (511)."),
        _f("nav_status", pa.int8(), "AIS navigational status 0..15 (Class A only); null when unknown."),
        _f("msg_type", pa.int8(), "AIS message type (1, 2, 3, 18, 19, 27); 0 when the source was already decoded."),
        _f("transceiver_class", pa.string(), "'A' or 'B' transponder class when known."),
        _f("source_id", pa.string(), "Content hash (sha256, 16 hex) of the file the row came from.", False),
        _f("source_line", pa.int64(), "1-based line (NMEA) or data-row (CSV/Parquet) number in that file.", False),
        _f("time_source", TIME_SOURCE_TYPE, _TIME_SOURCE_DOC),
    ]
)

VESSEL_STATIC = pa.schema(
    [
        _f("mmsi", pa.int64(), "MMSI that broadcast the static report.", False),
        _f("timestamp", TS, "Time the static report was received (UTC).", False),
        _f("imo", pa.int64(), "IMO number (7 digits) when given; null otherwise."),
        _f("name", pa.string(), "Vessel name as broadcast (untrusted text, '@' padding stripped)."),
        _f("call_sign", pa.string(), "Radio call sign as broadcast (untrusted text)."),
        _f("ship_type", pa.int16(), "AIS ship and cargo type code 0..99; null when not available."),
        _f("length_m", pa.float32(), "Overall length in metres (bow + stern reference distances)."),
        _f("width_m", pa.float32(), "Beam in metres (port + starboard reference distances)."),
        _f("draught_m", pa.float32(), "Static draught in metres; null when not available."),
        _f("destination", pa.string(), "Destination as broadcast (untrusted text)."),
        _f("flag", pa.string(), "Flag state declared by the source (ISO 3166 alpha-2) when the source gives one."),
        _f("msg_type", pa.int8(), "AIS message type (5, 19, 24); 0 when the source was already decoded."),
        _f("transceiver_class", pa.string(), "'A' or 'B' transponder class when known."),
        _f("source_id", pa.string(), "Content hash (sha256, 16 hex) of the source file.", False),
        _f("source_line", pa.int64(), "1-based line or row number in that file.", False),
        _f("time_source", TIME_SOURCE_TYPE, _TIME_SOURCE_DOC),
    ]
)

PORT_CALLS = pa.schema(
    [
        _f("call_id", pa.string(), "Deterministic id: hash of vessel identifiers, port and arrival time.", False),
        _f("mmsi", pa.int64(), "MMSI as recorded by the port authority, when given."),
        _f("imo", pa.int64(), "IMO number as recorded, when given."),
        _f("name", pa.string(), "Vessel name as recorded."),
        _f("call_sign", pa.string(), "Call sign as recorded."),
        _f("flag", pa.string(), "Flag state as recorded (ISO 3166 alpha-2)."),
        _f("port_locode", pa.string(), "UN/LOCODE of the port, resolved against config/ports.", False),
        _f("port_name", pa.string(), "Port name from the configured port list.", False),
        _f("arrival_time", TS, "Arrival time (UTC); the partition date is its UTC date.", False),
        _f("departure_time", TS, "Departure time (UTC); null while the vessel is still in port."),
        _f("previous_port", pa.string(), "Previous port of call as recorded (LOCODE or name)."),
        _f("next_port", pa.string(), "Next port of call as recorded (LOCODE or name)."),
        _f("persons_on_board", pa.int32(), "Persons on board (crew + passengers) when recorded."),
        _f("source_id", pa.string(), "Content hash (sha256, 16 hex) of the source file.", False),
        _f("source_line", pa.int64(), "1-based data-row number in that file.", False),
    ]
)

QUARANTINE = pa.schema(
    [
        _f("table", pa.string(), "Lake table the row was meant for (positions, vessel_static, port_calls) or 'nmea'.", False),
        _f("source_file", pa.string(), "File name the row came from.", False),
        _f("source_id", pa.string(), "Content hash (sha256, 16 hex) of that file.", False),
        _f("source_line", pa.int64(), "1-based line or data-row number in that file.", False),
        _f("rule", pa.string(), "Name of the validation rule that rejected the row (see pipeline.ingest.rules).", False),
        _f("detail", pa.string(), "Human-readable detail: the field and the offending value."),
        _f("raw", pa.string(), "The raw line or row as received (truncated to 2000 characters).", False),
    ]
)

EVENTS = pa.schema(
    [
        _f("event_id", pa.string(), "Deterministic id: hash of mmsi, event type, start time (and partner or zone).", False),
        _f("event_type", pa.string(), "loiter, zone_dwell, dark_gap, encounter, port_visit, identity_conflict or heading_to_destination.", False),
        _f("mmsi", pa.int64(), "The vessel the event is about.", False),
        _f("start_time", TS, "First position of the event (dark_gap: last position before the silence).", False),
        _f("end_time", TS, "Last position of the event (dark_gap: first position after it). The event belongs to the UTC day of end_time.", False),
        _f("duration_h", pa.float64(), "end_time - start_time in hours.", False),
        _f("lat", pa.float64(), "Representative latitude (median position; dark_gap: where the vessel vanished)."),
        _f("lon", pa.float64(), "Representative longitude (median position; dark_gap: where the vessel vanished)."),
        _f("end_lat", pa.float64(), "dark_gap: where the vessel reappeared; heading_to_destination: last position."),
        _f("end_lon", pa.float64(), "dark_gap: where the vessel reappeared; heading_to_destination: last position."),
        _f("zone_id", pa.string(), "Configured zone (departure point, destination) or port LOCODE the event concerns."),
        _f("partner_mmsi", pa.int64(), "encounter: the other vessel; identity_conflict: the other MMSI, when there is one."),
        _f("night_h", pa.float64(), "Hours of the event at night (sun below the configured elevation at the position)."),
        _f("open", pa.bool_(), "True when the event was still running at the end of the day's data: it is emitted again, whole and with the same id, on the day it ends.", False),
        _f("positions", pa.int64(), "Number of AIS positions inside the event."),
        _f("distance_to_shore_m", pa.float64(), "Distance from the representative position to the nearest land, metres."),
        _f("distance_to_departure_m", pa.float64(), "Distance from the representative position to the nearest departure point area, metres."),
        _f("distance_m", pa.float64(), "dark_gap: great-circle distance vanish→reappear; encounter: median distance between the vessels (m)."),
        _f("implied_speed_kn", pa.float64(), "dark_gap: distance / silence duration, knots."),
        _f("bearing_deg", pa.float64(), "dark_gap: course over ground at the vanish point; heading_to_destination: mean course (deg true)."),
        _f("reception_ratio", pa.float64(), "dark_gap: positions received in the 6 h before the gap from this vessel and from vessels within 50 km, relative to what their reporting intervals predict (1 = normal reception; near 0 = reception hole)."),
        _f("detail", pa.string(), "Plain-language specifics (identity conflict kind, names, port-call reference ...)."),
    ]
)

EVENT_TYPES = (
    "loiter", "zone_dwell", "dark_gap", "encounter", "port_visit", "identity_conflict",
    "heading_to_destination",
)
# Columns whose change against the vessel's own previous 30 days is a feature of its own.
TRENDED_FEATURES = ("loiter_h", "departure_zone_night_h", "dark_gap_max_h", "encounter_h")
HISTORY_DAYS = 30  # the look-back of the history features below
# Features that look back over the vessel's previous HISTORY_DAYS days: on a lake with less
# history they describe a shorter past than the training rows did.
HISTORY_FEATURES = ("days_seen_30d", *(f"{n}_change_30d" for n in TRENDED_FEATURES))


def _feature_fields() -> list[pa.Field]:
    fields = [
        _f("mmsi", pa.int64(), "The vessel: every vessel with positions on the day, and every vessel with an event ending on it (a vessel that went dark yesterday and is still silent has a row with positions = 0).", False),
        _f("date", pa.date32(), "The UTC day the row describes (the partition date).", False),
        _f("region", pa.string(), "Configured region whose area holds most of the day's positions (null: outside every region)."),
        _f("positions", pa.int64(), "AIS positions received on the day.", False),
        _f("first_seen", TS, "First position of the day (null: silent all day, in the table for an event such as an open dark gap)."),
        _f("last_seen", TS, "Last position of the day (null: silent all day)."),
        _f("transceiver_class", pa.string(), "'A' or 'B' (most frequent on the day)."),
        _f("name", pa.string(), "Latest broadcast name in the look-back window (untrusted text)."),
        _f("call_sign", pa.string(), "Latest broadcast call sign (untrusted text)."),
        _f("imo", pa.int64(), "Latest broadcast IMO number."),
        _f("ship_type", pa.int16(), "Latest AIS ship type code; null without static data."),
        _f("length_m", pa.float32(), "Latest broadcast length; null without static data."),
        _f("has_static", pa.bool_(), "The vessel sent (or a file carried) static data in the look-back window.", False),
        _f("glitches", pa.int64(), "Position glitches removed from the day's track (impossible jumps).", False),
        _f("night_share", pa.float64(), "Share of the day's positions sent at night (null: no positions)."),
        _f("max_sog_kn", pa.float64(), "Highest reported speed over ground on the day (knots)."),
        _f("departure_zone_night_h", pa.float64(), "Hours spent inside any departure point or holding area at night on the day, from the day's positions (each position counts until the next one, at most 1 h).", False),
        _f("min_distance_to_departure_m", pa.float64(), "Closest approach to any configured departure point or holding area on the day (metres; 0 inside; a vessel silent all day: from where it vanished)."),
    ]
    for kind in EVENT_TYPES:
        fields += [
            _f(f"{kind}_count", pa.int64(), f"{kind} events ending on the day (open ones included).", False),
            _f(f"{kind}_h", pa.float64(), f"Total duration of those {kind} events (hours).", False),
            _f(f"{kind}_night_h", pa.float64(), "Part of that duration at night (hours).", False),
        ]
    fields += [
        _f("dark_gap_max_h", pa.float64(), "Longest dark gap ending on the day (hours; 0 when none).", False),
        _f("dark_gap_max_lat", pa.float64(), "Where that longest gap began (latitude)."),
        _f("dark_gap_max_lon", pa.float64(), "Where that longest gap began (longitude)."),
        _f("dark_gap_max_reception_ratio", pa.float64(), "Expected-reception measure of that gap (near 1: neighbours were received, so the silence looks deliberate)."),
        _f("dark_gap_near_departure", pa.int64(), "Dark gaps that began near a departure point.", False),
        _f("encounter_partners", pa.int64(), "Distinct vessels met in encounters.", False),
        _f("undeclared_port_visits", pa.int64(), "AIS port visits without a declared port call.", False),
        _f("calls_without_ais", pa.int64(), "Declared port calls without AIS presence.", False),
        _f("days_seen_30d", pa.int64(), "Days with positions among this day and the 29 before it.", False),
    ]
    for name in TRENDED_FEATURES:
        fields.append(_f(f"{name}_change_30d", pa.float64(), f"{name} minus its mean over the vessel's previous 30 days with data (null without history)."))
    return fields


FEATURES = pa.schema(_feature_fields())

SCORES = pa.schema(
    [
        _f("mmsi", pa.int64(), "The vessel (one row per row of lake/features of the day).", False),
        _f("date", pa.date32(), "The UTC day scored.", False),
        _f("score", pa.float64(), "Risk score 0..1 (rule baseline: weighted share of the evidence rules; a model: calibrated probability).", False),
        _f("rank", pa.int64(), "1 = highest score of the day (ties broken by MMSI).", False),
        _f("model_id", pa.string(), "What scored the row: a model id from models/, or rules-<hash of the weights>.", False),
        _f("region", pa.string(), "Region of the vessel that day (from features)."),
        _f("reason_codes", pa.list_(pa.string()), "Rules or features that contributed most, strongest first.", False),
        _f("reasons", pa.list_(pa.string()), "The same as plain-language sentences an analyst can act on (AIS text inside is untrusted: escape it when rendering).", False),
    ]
)

INCIDENTS = pa.schema(
    [
        _f("incident_id", pa.string(), "Deterministic id: hash of the report's content (dates, place, position, identifiers, outcome, agency).", False),
        _f("report_date", pa.date32(), "Date the report reached the PIU; null when not given."),
        _f("incident_date", pa.date32(), "Date (UTC) of the interception, landing or rescue; the partition date.", False),
        _f("place", pa.string(), "Place name as reported (untrusted text)."),
        _f("lat", pa.float64(), "Approximate latitude as reported (decimal degrees; null when not given)."),
        _f("lon", pa.float64(), "Approximate longitude as reported (decimal degrees; null when not given)."),
        _f("mmsi", pa.int64(), "MMSI as reported (may be a placeholder or a later identity)."),
        _f("imo", pa.int64(), "IMO number as reported."),
        _f("name", pa.string(), "Vessel name as reported (may be misspelled)."),
        _f("call_sign", pa.string(), "Call sign as reported."),
        _f("outcome", pa.string(), "intercepted, landed, turned_back, rescued or disrupted.", False),
        _f("reporting_agency", pa.string(), "Who filed the report (provenance of the label)."),
        _f("source_file", pa.string(), "File name the report came from.", False),
        _f("source_id", pa.string(), "Content hash (sha256, 16 hex) of that file.", False),
        _f("source_line", pa.int64(), "1-based line number of the report in that file (the header is line 1).", False),
    ]
)

INCIDENT_MATCHES = pa.schema(
    [
        _f("incident_id", pa.string(), "The report (lake/incidents).", False),
        _f("incident_date", pa.date32(), "Date of the incident; the partition date.", False),
        _f("report_date", pa.date32(), "Date the report reached the PIU (labels must not be used before it)."),
        _f("mmsi", pa.int64(), "Vessel the report was linked to; null for an unmatched report."),
        _f("match_method", pa.string(), "Strongest identifier that linked them: mmsi, imo, call_sign or name; 'unmatched' when none did.", False),
        _f("confidence", pa.float64(), "0..1: method weights combined over every agreeing identifier, shared among vessels with the same identifier, raised when the vessel was near the reported position; 0 when unmatched.", False),
        _f("methods", pa.string(), "Every identifier that agreed, '+'-joined (e.g. 'mmsi+name')."),
        _f("distance_km", pa.float64(), "Closest approach of the vessel's AIS positions in the time window to the reported position (km); null without a position or positions."),
        _f("outcome", pa.string(), "Outcome as reported.", False),
        _f("place", pa.string(), "Place name as reported."),
        _f("reporting_agency", pa.string(), "Who filed the report (provenance)."),
        _f("source_file", pa.string(), "File name the report came from (provenance).", False),
        _f("source_id", pa.string(), "Content hash of that file (provenance).", False),
        _f("source_line", pa.int64(), "Line of the report in that file (provenance).", False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "positions": POSITIONS,
    "vessel_static": VESSEL_STATIC,
    "port_calls": PORT_CALLS,
    "quarantine": QUARANTINE,
    "events": EVENTS,
    "features": FEATURES,
    "scores": SCORES,
    "incidents": INCIDENTS,
    "incident_matches": INCIDENT_MATCHES,
}

# Column on which each table is partitioned by UTC date.
PARTITION_TIME_COLUMN: dict[str, str] = {
    "positions": "timestamp",
    "vessel_static": "timestamp",
    "port_calls": "arrival_time",
    "incidents": "incident_date",  # a date: merged with one batch per day
    "incident_matches": "incident_date",
}

# Keys that make a row an exact duplicate (removed and counted at ingest).
DEDUP_KEYS: dict[str, list[str]] = {
    "positions": ["mmsi", "timestamp", "lat", "lon"],
    "vessel_static": [
        "mmsi", "timestamp", "imo", "name", "call_sign", "ship_type",
        "length_m", "width_m", "draught_m", "destination",
    ],
    "port_calls": ["call_id"],
    "incidents": ["incident_id"],
}

# Sort order that makes a partition's content independent of the order files arrived in.
SORT_KEYS: dict[str, list[str]] = {
    "positions": ["mmsi", "timestamp", "lat", "lon", "source_id", "source_line"],
    "vessel_static": ["mmsi", "timestamp", "source_id", "source_line"],
    "port_calls": ["arrival_time", "port_locode", "call_id", "source_id", "source_line"],
    "quarantine": ["source_id", "source_line", "rule"],
    "events": ["mmsi", "start_time", "event_type", "event_id"],
    "features": ["mmsi"],
    "scores": ["rank"],
    "incidents": ["incident_id", "source_id", "source_line"],
    "incident_matches": ["incident_id", "mmsi", "match_method"],
}


def describe(table: str) -> list[tuple[str, str, str]]:
    """(column, arrow type, documentation) for every column of a lake table."""
    schema = TABLES[table]
    return [
        (f.name, str(f.type), (f.metadata or {}).get(b"doc", b"").decode()) for f in schema
    ]
