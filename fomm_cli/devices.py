"""Compute devices: one rule for every command.

``check_device_name`` is torch-free (option checks run before torch is imported); ``resolve_device`` turns
a checked name into a ``torch.device``, raising ``DeviceUnavailable`` when the machine lacks it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fomm_cli.errors import DeviceUnavailable, InvalidSetting

if TYPE_CHECKING:
    import torch

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
# Numeric precisions of the convolutions: fp32 is exact; bf16 (CPU or CUDA) and fp16 (CUDA) are fast.
PRECISIONS = ("fp32", "bf16", "fp16")
_DEVICE = re.compile(r"(auto|cpu|mps|cuda(:\d+)?)")


def check_device_name(name: str, setting: str = "device") -> str:
    """``name`` if it is a device this project knows how to use, else ``InvalidSetting``."""
    if not _DEVICE.fullmatch(name):
        raise InvalidSetting(setting, name, DEVICE_NAMES)
    return name


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an unavailable device raises ``DeviceUnavailable``."""
    import torch

    check_device_name(name)
    mps = getattr(torch.backends, "mps", None)
    mps_available = mps is not None and mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(name, "CUDA is not available on this machine")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(name, f"this machine has {torch.cuda.device_count()} CUDA device(s)")
    if name == "mps" and not mps_available:
        raise DeviceUnavailable(name, "MPS is not available on this machine")
    return torch.device(name)
