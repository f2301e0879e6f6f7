"""Geometry helpers against known distances and the shipped (real) land polygons."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod

from pipeline import geo
from pipeline.config import load_settings

WGS84 = Geod(ellps="WGS84")
JAKARTA = (-6.2088, 106.8456)
FLYING_FISH_COVE = (-10.4217, 105.6791)  # Christmas Island


@pytest.fixture(scope="module")
def land() -> shapely.Geometry:
    return load_settings(env={}).land()


@pytest.fixture(scope="module")
def land_index(land: shapely.Geometry) -> geo.DistanceIndex:
    return geo.build_distance_index(land)


def _wgs84_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(WGS84.inv(lon1, lat1, lon2, lat2)[2])


def test_one_degree_of_latitude_is_111_2_km() -> None:
    assert float(geo.haversine_m(0.0, 100.0, 1.0, 100.0)) == pytest.approx(111_195, rel=1e-4)
    # one degree of longitude shrinks with cos(latitude)
    d = geo.haversine_m(60.0, 0.0, 60.0, 1.0)
    assert float(d) == pytest.approx(111_195 * 0.5, rel=2e-3)


def test_jakarta_to_christmas_island_matches_the_ellipsoid() -> None:
    d = float(geo.haversine_m(*JAKARTA, *FLYING_FISH_COVE))
    assert d == pytest.approx(_wgs84_m(*JAKARTA, *FLYING_FISH_COVE), rel=5e-3)
    assert 480_000 < d < 500_000


def test_palabuhanratu_to_christmas_island_is_about_213_nm() -> None:
    # The zone notes' own great-circle figure is ≈ 213 nm (395 km); their end points are not
    # stated, so allow a few nm for the choice of point in the bay and on the island.
    d_nm = float(geo.haversine_m(-7.00, 106.53, -10.49, 105.63)) / geo.NM_M
    assert d_nm == pytest.approx(213, abs=5)


def test_haversine_is_vectorised_and_broadcasts() -> None:
    lat = np.array([0.0, 10.0, -20.0])
    d = geo.haversine_m(lat, 100.0, lat + 1.0, 100.0)
    assert d.shape == (3,)
    np.testing.assert_allclose(d, 111_195, rtol=1e-4)
    assert float(geo.haversine_m(5.0, 95.0, 5.0, 95.0)) == 0.0


def test_initial_bearings() -> None:
    b = geo.initial_bearing_deg(0.0, 0.0, [1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, -1.0])
    np.testing.assert_allclose(b, [0.0, 90.0, 180.0, 270.0], atol=1e-9)
    ours = float(geo.initial_bearing_deg(*JAKARTA, *FLYING_FISH_COVE))
    az = WGS84.inv(JAKARTA[1], JAKARTA[0], FLYING_FISH_COVE[1], FLYING_FISH_COVE[0])[0] % 360
    assert ours == pytest.approx(az, abs=0.3)
    assert 190 < ours < 200  # south by a little west


def test_destination_point_round_trip() -> None:
    lat, lon = geo.destination_point(20.86, 92.28, 200.0, 50_000.0)  # off Teknaf
    assert float(geo.haversine_m(20.86, 92.28, lat, lon)) == pytest.approx(50_000, rel=1e-9)
    assert float(geo.initial_bearing_deg(20.86, 92.28, lat, lon)) == pytest.approx(200.0)


def test_buffer_point_km_is_a_geodesic_circle() -> None:
    circle = geo.buffer_point_km(-7.0, 106.53, 12.0)
    assert circle.geom_type == "Polygon" and circle.is_valid
    xy = shapely.get_coordinates(circle.exterior)
    d = geo.haversine_m(-7.0, 106.53, xy[:, 1], xy[:, 0])
    np.testing.assert_allclose(d, 12_000, rtol=1e-9)
    # wider in degrees of longitude than of latitude away from the equator
    minx, miny, maxx, maxy = shapely.bounds(geo.buffer_point_km(60.0, 0.0, 10.0))
    assert (maxx - minx) == pytest.approx(2 * (maxy - miny), rel=0.02)
    many = geo.buffer_point_km([-7.0, 20.86], [106.53, 92.28], [12.0, 10.0])
    assert many.shape == (2,) and all(p.geom_type == "Polygon" for p in many)
    with pytest.raises(ValueError):
        geo.buffer_point_km(0.0, 0.0, -1.0)


def test_points_in_land_and_sea(land: shapely.Geometry) -> None:
    lat = np.array([-7.30, -7.50, -10.49, -9.00, 21.45, 20.50])
    lon = np.array([107.00, 110.50, 105.63, 106.00, 92.00, 91.50])
    # West Java interior, Central Java interior, Christmas Island, Indian Ocean,
    # Cox's Bazar hinterland, Bay of Bengal
    inside = geo.points_in(land, lat, lon)
    assert inside.dtype == bool
    assert inside.tolist() == [True, True, True, False, True, False]


def test_distance_to_shore_offshore_of_pelabuhan_ratu(
    land: shapely.Geometry, land_index: geo.DistanceIndex
) -> None:
    # The Sukabumi coast south of Palabuhanratu bay runs east-west: a point 10 km due south of
    # the shoreline is ~10 km from shore.
    meridian = shapely.LineString([(106.6, -6.5), (106.6, -7.8)]).intersection(land)
    coast_lat = float(shapely.get_coordinates(meridian)[:, 1].min())
    lat, lon = geo.destination_point(coast_lat, 106.6, 180.0, 10_000.0)
    assert not geo.points_in(land, lat, lon)
    d = float(geo.distance_to_geometry_m(land_index, lat, lon))
    assert d == pytest.approx(10_000, rel=0.05)
    # the configured Palabuhanratu departure point lies in the bay, about 1 km off the town
    assert 200 < float(geo.distance_to_geometry_m(land_index, -7.00, 106.53)) < 3_000


def test_distance_to_geometry_matches_brute_force(
    land: shapely.Geometry, land_index: geo.DistanceIndex
) -> None:
    rng = np.random.default_rng(7)
    lat = np.r_[rng.uniform(-17, -5, 60), rng.uniform(3, 22, 60)]
    lon = np.r_[rng.uniform(103, 127, 60), rng.uniform(89, 100, 60)]
    d = geo.distance_to_geometry_m(land_index, lat, lon)
    assert not np.isnan(d).any()
    on_land = geo.points_in(land, lat, lon)
    assert (d[on_land] == 0).all()
    coast = shapely.get_coordinates(shapely.segmentize(shapely.boundary(land), 0.001))
    sea = np.flatnonzero(~on_land)
    exact = np.array([geo.haversine_m(lat[i], lon[i], coast[:, 1], coast[:, 0]).min() for i in sea])
    # never shorter than the true minimum (beyond densification error), at most ~1 % longer
    np.testing.assert_allclose(d[sea], exact, rtol=0.01, atol=150)


def test_distance_shapes_nan_and_plain_geometry() -> None:
    square = shapely.box(100.0, 0.0, 101.0, 1.0)
    lat = np.array([[0.5, 0.5], [np.nan, 2.0]])
    lon = np.array([[100.5, 102.0], [100.0, 100.5]])
    d = geo.distance_to_geometry_m(square, lat, lon)
    assert d.shape == (2, 2)
    assert d[0, 0] == 0.0
    assert d[0, 1] == pytest.approx(float(geo.haversine_m(0.5, 101.0, 0.5, 102.0)), rel=1e-6)
    assert np.isnan(d[1, 0])
    assert d[1, 1] == pytest.approx(111_195, rel=1e-3)
    line = shapely.LineString([(100.0, 0.0), (100.0, 1.0)])
    assert float(geo.distance_to_geometry_m(line, 0.5, 100.0)) == pytest.approx(0.0, abs=1e-6)
    point = shapely.Point(100.0, 0.0)
    assert float(geo.distance_to_geometry_m(point, 1.0, 100.0)) == pytest.approx(111_195, rel=1e-3)
