from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from pipeline.night import is_night, sun_elevation_deg


def _us(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1_000_000)


def test_noon_and_midnight_at_pelabuhan_ratu() -> None:
    # Pelabuhan Ratu (7.0 S, 106.5 E) is UTC+7: local noon ~ 05:00 UTC, midnight ~ 17:00 UTC
    lat, lon = -7.0, 106.53
    noon = sun_elevation_deg(_us(2024, 3, 20, 5, 0), lat, lon)
    assert 80 < float(noon) <= 90  # near the equinox the sun is almost overhead
    assert float(sun_elevation_deg(_us(2024, 3, 20, 17, 0), lat, lon)) < -60
    # a pre-dawn loading at 04:00 local (21:00 UTC the day before) is in the dark
    assert bool(is_night(_us(2024, 3, 19, 21, 0), lat, lon))
    assert not bool(is_night(_us(2024, 3, 20, 5, 0), lat, lon))


def test_sunrise_matches_almanac_within_minutes() -> None:
    # Cox's Bazar (21.43 N, 91.98 E), 2024-01-15: solar noon 12:00 - 7.9 min (longitude)
    # + 9.3 min (equation of time) = 06:01 UTC; day length 10 h 58 min, so sunrise is about
    # 00:32 UTC (06:32 local, as almanacs give it)
    lat, lon = 21.43, 91.98
    minutes = np.arange(0, 120)
    t = _us(2024, 1, 15, 0, 0) + minutes * 60_000_000
    el = sun_elevation_deg(t, np.full(len(t), lat), np.full(len(t), lon))
    rise = minutes[np.argmax(el > -0.833)]  # upper limb with standard refraction
    assert abs(int(rise) - 32) <= 4


def test_vectorised_shapes() -> None:
    t = np.full(5, _us(2024, 6, 1, 12, 0))
    el = sun_elevation_deg(t, np.linspace(-10, 20, 5), np.full(5, 100.0))
    assert el.shape == (5,) and np.all(np.isfinite(el))
