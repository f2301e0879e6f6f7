"""Night from the sun's elevation at the position and time, not from clock hours.

Smuggling boats load and leave in the dark, and "night" at 6° S in November is not the same
clock hours as at 21° N in January. The solar position uses the NOAA/Meeus low-precision
formulas (accurate to about 0.1°, far inside what a ±6° twilight threshold needs), vectorised.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
US_PER_DAY = 86_400_000_000
J2000_US = 946_728_000_000_000  # 2000-01-01 12:00 UTC in µs since the epoch


def sun_elevation_deg(t_us: npt.ArrayLike, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64:
    """Elevation of the sun's centre above the horizon (degrees), without refraction."""
    t = np.asarray(t_us, dtype=np.float64)
    d = (t - J2000_US) / US_PER_DAY  # days since J2000.0
    g = np.radians((357.529 + 0.98560028 * d) % 360)  # mean anomaly
    q = (280.459 + 0.98564736 * d) % 360  # mean longitude
    ecl_lon = np.radians(q + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g))
    eps = np.radians(23.439 - 0.00000036 * d)
    decl = np.arcsin(np.sin(eps) * np.sin(ecl_lon))
    ra = np.arctan2(np.cos(eps) * np.sin(ecl_lon), np.cos(ecl_lon))
    gmst_h = (18.697374558 + 24.06570982441908 * d) % 24
    hour_angle = np.radians(gmst_h * 15 + np.asarray(lon, dtype=np.float64)) - ra
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    sin_el = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle)
    return np.asarray(np.degrees(np.arcsin(np.clip(sin_el, -1, 1))), dtype=np.float64)


def is_night(t_us: npt.ArrayLike, lat: npt.ArrayLike, lon: npt.ArrayLike,
             threshold_deg: float = -6.0) -> npt.NDArray[np.bool_]:
    """True where the sun is below ``threshold_deg`` (-6: civil twilight has ended)."""
    return np.asarray(sun_elevation_deg(t_us, lat, lon) < threshold_deg)
