"""What an architecture costs on a device: device specs, profiles, measurement."""

from hwdiff.hardware.devices import DeviceSpec, get_device, load_device_specs
from hwdiff.hardware.fewshot import FewShotProfile
from hwdiff.hardware.lut import LutProfile
from hwdiff.hardware.model_profile import ModelProfile
from hwdiff.hardware.profiles import Profile, TableProfile, find_profile, load_catalog, read_profile

__all__ = ["DeviceSpec", "FewShotProfile", "LutProfile", "ModelProfile", "Profile", "TableProfile", "find_profile",
           "get_device", "load_catalog", "load_device_specs", "read_profile"]
