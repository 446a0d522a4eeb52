"""Configuration: frozen dataclasses, parsed once at the CLI and passed down explicitly.

``from_dict`` rejects unknown keys, so a run's ``config.json`` rebuilds exactly what it describes.
Each stage's config lives here, in one place.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Type, TypeVar

T = TypeVar("T")


def to_dict(cfg) -> dict:
    """A JSON-friendly dict of a (nested) config dataclass."""
    return dataclasses.asdict(cfg)


def from_dict(cls: Type[T], d: dict[str, Any], where: str = "config") -> T:
    """Build ``cls`` from ``d``; unknown keys raise ValueError; nested dataclasses are rebuilt."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)} for {cls.__name__}")
    kwargs = {}
    for key, value in d.items():
        ftype = names[key].type
        sub = _dataclass_type(ftype)
        if sub is not None and isinstance(value, dict):
            value = from_dict(sub, value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _dataclass_type(ftype):
    if isinstance(ftype, str):
        ftype = globals().get(ftype)
    return ftype if dataclasses.is_dataclass(ftype) else None
