"""Where streets are: their district (gateway/data/streets.yaml) and a block-level point for the map."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from gateway.addresses import street_key
from gateway.classifier import DATA_DIR
from gateway.yamlfile import load_yaml

POINTS_FILE = Path(__file__).parent / "street_points.yaml"


@cache
def districts() -> dict[str, str]:
    """street_key -> district, for the streets the city lists."""
    return {street_key(row["street"]): row["district"] for row in load_yaml(DATA_DIR / "streets.yaml") or []}


@cache
def points() -> dict[str, tuple[float, float]]:
    """street_key -> (lat, lon)."""
    return {street_key(row["street"]): (float(row["lat"]), float(row["lon"])) for row in load_yaml(POINTS_FILE) or []}


def district_of(street: str) -> str | None:
    return districts().get(street_key(street))


def point_of(street: str) -> tuple[float, float] | None:
    return points().get(street_key(street))


@cache
def street_names() -> tuple[str, ...]:
    """The city's streets as residents read them, for the search's suggestions."""
    return tuple(row["street"] for row in load_yaml(DATA_DIR / "streets.yaml") or [])
