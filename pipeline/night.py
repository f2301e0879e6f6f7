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


def _sun_equatorial(d: F64) -> tuple[F64, F64]:
    """Declination and right ascension (radians) of the sun, ``d`` days after J2000.0."""
    g = np.radians((357.529 + 0.98560028 * d) % 360)  # mean anomaly
    q = (280.459 + 0.98564736 * d) % 360  # mean longitude
    ecl_lon = np.radians(q + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g))
    eps = np.radians(23.439 - 0.00000036 * d)
    decl = np.arcsin(np.sin(eps) * np.sin(ecl_lon))
    ra = np.arctan2(np.cos(eps) * np.sin(ecl_lon), np.cos(ecl_lon))
    return decl, ra


MINUTE_US = 60_000_000


CHUNK = 1 << 20  # rows per block: small temporaries are cheaper than fresh large ones


def _sin_elevation(t_us: npt.ArrayLike, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64:
    """Sine of the sun's elevation. The sun's declination and right ascension change by
    less than 0.01° a minute, so they are computed once per minute of the time span and
    looked up; the Earth's rotation (sidereal time) is computed for every row."""
    t = np.asarray(t_us, dtype=np.int64)
    la, lo = np.broadcast_arrays(np.asarray(lat, dtype=np.float64),
                                 np.asarray(lon, dtype=np.float64))
    t, la, lo = np.broadcast_arrays(t, la, lo)
    out = np.empty(t.shape, dtype=np.float64)
    if t.size == 0:
        return out
    flat_t, flat_la, flat_lo, flat_out = t.ravel(), la.ravel(), lo.ravel(), out.ravel()
    # minutes counted from the epoch, so a row gets the same value whatever else is in the
    # batch (N shards must give the bytes of one process)
    m0 = int(flat_t.min()) // MINUTE_US
    n_min = int(flat_t.max()) // MINUTE_US - m0 + 1
    centres = (m0 + np.arange(n_min)) * MINUTE_US + MINUTE_US // 2
    decl_m, ra_m = _sun_equatorial((centres - J2000_US) / US_PER_DAY)
    sin_d, cos_d = np.sin(decl_m), np.cos(decl_m)
    for a in range(0, flat_t.size, CHUNK):
        tt = flat_t[a : a + CHUNK]
        minute = tt // MINUTE_US - m0
        gmst_deg = ((18.697374558 + 24.06570982441908 * ((tt - J2000_US) / US_PER_DAY)) % 24) * 15
        hour_angle = np.radians(gmst_deg + flat_lo[a : a + CHUNK]) - ra_m[minute]
        phi = np.radians(flat_la[a : a + CHUNK])
        flat_out[a : a + CHUNK] = (np.sin(phi) * sin_d[minute]
                                   + np.cos(phi) * cos_d[minute] * np.cos(hour_angle))
    return np.clip(out, -1.0, 1.0)


def sun_elevation_deg(t_us: npt.ArrayLike, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64:
    """Elevation of the sun's centre above the horizon (degrees), without refraction."""
    return np.asarray(np.degrees(np.arcsin(_sin_elevation(t_us, lat, lon))), dtype=np.float64)


def is_night(t_us: npt.ArrayLike, lat: npt.ArrayLike, lon: npt.ArrayLike,
             threshold_deg: float = -6.0) -> npt.NDArray[np.bool_]:
    """True where the sun is below ``threshold_deg`` (-6: civil twilight has ended)."""
    return np.asarray(_sin_elevation(t_us, lat, lon) < np.sin(np.radians(threshold_deg)))
