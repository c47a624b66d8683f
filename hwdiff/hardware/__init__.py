"""What an architecture costs on a device: device specs, profiles, measurement.

The names below load their module on first use, so that importing one light module of this
package (``hwdiff devices`` reads specs and the profile index) loads no numpy and no space.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "DeviceSpec": "devices", "get_device": "devices", "load_device_specs": "devices",
    "FewShotProfile": "fewshot",
    "LutProfile": "lut",
    "ModelProfile": "model_profile",
    "Profile": "profiles", "TableProfile": "profiles", "find_profile": "profiles", "load_catalog": "profiles",
    "read_profile": "profiles",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
