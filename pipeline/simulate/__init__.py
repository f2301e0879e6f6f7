"""Synthetic regional AIS traffic with smuggling scenarios hidden inside, plus ground truth.

No public AIS data set of migrant-smuggling voyages with labels exists; this package makes
one for the demo, the tests, the benchmarks and the first model. Modules, one per concept:
``identities`` (MMSI, IMO, names), ``seamap`` (land, shore distance, sea routes),
``tracks`` (knots), ``traffic`` (background kinds), ``scenarios`` (smuggling),
``reception`` (AIS realism), ``aivdm`` + ``writers`` (csv / nmea / parquet),
``port_calls``, ``incidents``, ``ground_truth``, ``engine`` (the run) and ``command`` (CLI).
"""

from pipeline.simulate.engine import SimulationResult, simulate

__all__ = ["SimulationResult", "simulate"]
