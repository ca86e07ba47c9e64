"""Coordinates: WGS-84 ⇄ GCJ-02, great-circle distance and the bounding box of a circle.

Stations are stored in WGS-84, the datum phones (GPS) report and the one great-circle distance
is meaningful in. Maps published in China (Amap/高德, Tencent/腾讯) draw in GCJ-02, an obfuscated
datum offset by a few hundred metres; points picked on those maps arrive in GCJ-02 and points
shown on them must be converted back. GCJ-02 has no closed-form inverse: `gcj02_to_wgs84`
inverts it by fixed-point iteration to well under a millimetre.

No ORM and no I/O: floats in, floats out. Latitude first everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)

# Krasovsky 1940 ellipsoid, as the GCJ-02 algorithm uses it.
_A = 6_378_245.0
_EE = 0.00669342162296594323


class Crs(StrEnum):
    """The coordinate reference systems the API and the files accept."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"


def out_of_china(lat: float, lng: float) -> bool:
    """GCJ-02 applies only inside this rectangle around mainland China; outside it, GCJ-02 is
    WGS-84."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset(lat: float, lng: float) -> tuple[float, float]:
    """The GCJ-02 shift (degrees of latitude, longitude) at a WGS-84 point inside China."""
    x, y = lng - 105.0, lat - 35.0
    x_pi, y_pi = x * math.pi, y * math.pi
    common = (20.0 * math.sin(6.0 * x_pi) + 20.0 * math.sin(2.0 * x_pi)) * 2.0 / 3.0
    d_lat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * math.sqrt(abs(x))
        + common
        + (20.0 * math.sin(y_pi) + 40.0 * math.sin(y_pi / 3.0)) * 2.0 / 3.0
        + (160.0 * math.sin(y_pi / 12.0) + 320.0 * math.sin(y_pi / 30.0)) * 2.0 / 3.0
    )
    d_lng = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * math.sqrt(abs(x))
        + common
        + (20.0 * math.sin(x_pi) + 40.0 * math.sin(x_pi / 3.0)) * 2.0 / 3.0
        + (150.0 * math.sin(x_pi / 12.0) + 300.0 * math.sin(x_pi / 30.0)) * 2.0 / 3.0
    )
    rad_lat = math.radians(lat)
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lat, d_lng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if out_of_china(lat, lng):
        return lat, lng
    d_lat, d_lng = _offset(lat, lng)
    return lat + d_lat, lng + d_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """Invert wgs84_to_gcj02: find w with wgs84_to_gcj02(w) == (lat, lng).

    The usual one-step `g - offset(g)` is off by up to a few metres; iterating the correction
    converges geometrically (the offset changes slowly with position) to below 1e-10 degrees.
    """
    if out_of_china(lat, lng):
        return lat, lng
    w_lat, w_lng = lat, lng
    for _ in range(30):
        g_lat, g_lng = wgs84_to_gcj02(w_lat, w_lng)
        e_lat, e_lng = lat - g_lat, lng - g_lng
        w_lat, w_lng = w_lat + e_lat, w_lng + e_lng
        if abs(e_lat) < 1e-10 and abs(e_lng) < 1e-10:
            break
    return w_lat, w_lng


def to_wgs84(lat: float, lng: float, crs: Crs | str) -> tuple[float, float]:
    return gcj02_to_wgs84(lat, lng) if Crs(crs) == Crs.GCJ02 else (lat, lng)


def from_wgs84(lat: float, lng: float, crs: Crs | str) -> tuple[float, float]:
    return wgs84_to_gcj02(lat, lng) if Crs(crs) == Crs.GCJ02 else (lat, lng)


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres on the mean-radius sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    d_lat = p2 - p1
    d_lng = math.radians(lng2 - lng1)
    h = math.sin(d_lat / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(d_lng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Box:
    min_lat: float
    max_lat: float
    min_lng: float
    max_lng: float


# Slack so that a point at exactly the radius, whose distance rounds a hair below it, is
# never outside the box because the box edge rounded the other way (1e-9 degrees ≈ 0.1 mm).
_SLACK = 1e-9


def bounding_box(lat: float, lng: float, radius_m: float) -> Box:
    """A latitude/longitude box containing every point within `radius_m` of (lat, lng).

    Latitude spans ±radius/R exactly; the widest longitude difference on the circle is
    asin(sin(δ)/cos(lat)). Near a pole, or when the box would cross the antimeridian, it
    takes every longitude (still correct, merely less selective).
    """
    delta = radius_m / EARTH_RADIUS_M
    d_lat = math.degrees(delta)
    min_lat, max_lat = lat - d_lat - _SLACK, lat + d_lat + _SLACK
    if min_lat <= -90.0 or max_lat >= 90.0 or delta >= math.pi / 2:
        return Box(max(min_lat, -90.0), min(max_lat, 90.0), -180.0, 180.0)
    ratio = math.sin(delta) / math.cos(math.radians(lat))
    if ratio >= 1.0:
        return Box(min_lat, max_lat, -180.0, 180.0)
    d_lng = math.degrees(math.asin(ratio))
    min_lng, max_lng = lng - d_lng - _SLACK, lng + d_lng + _SLACK
    if min_lng < -180.0 or max_lng > 180.0:
        return Box(min_lat, max_lat, -180.0, 180.0)
    return Box(min_lat, max_lat, min_lng, max_lng)
