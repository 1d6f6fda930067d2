"""Training precision: float32, or bfloat16 autocast where the device runs bf16 natively.

Under ``precision="bfloat16"`` the training forward runs in ``torch.autocast(dtype=bfloat16)``:
convolutions and matrix products take bf16 inputs (half the memory traffic of float32, and
on CPUs with AVX512-BF16/AMX or on CUDA GPUs from Ampere on, several times the arithmetic
rate), while weights, gradients, optimiser state and BatchNorm statistics stay float32, and
the loss is computed in float32. bf16 keeps float32's exponent range (no loss scaling is
needed) with an 8-bit mantissa: each product is rounded to about 3 significant digits,
which SGD's noise absorbs. Where the device lacks native bf16 (e.g. an AVX2-only CPU),
torch would emulate it more slowly than float32, so training warns once and runs float32.
"""
from __future__ import annotations

import contextlib
import warnings

import torch

from conventions import check_choice

PRECISIONS = ("float32", "bfloat16")

__all__ = ["PRECISIONS", "check_precision", "bfloat16_supported", "training_precision", "autocast"]

_warned: set[str] = set()  # device types already warned about


def check_precision(precision: str) -> str:
    """``precision`` must name one of :data:`PRECISIONS`; returns it."""
    return check_choice(precision, "precision", PRECISIONS)


def bfloat16_supported(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 convolutions and matmuls natively.

    CUDA: ``torch.cuda.is_bf16_supported()``. CPU: oneDNN's own check of the instruction
    set (AVX512-BF16, AMX-BF16, or Arm's BF16 extension). Other devices: True (autocast decides).

    Parameters
    ----------
    device : torch.device or str
        The device.

    Returns
    -------
    bool
        Whether bf16 runs natively there.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a torch build without the oneDNN check
            return False
    return True


def training_precision(precision: str, device: torch.device) -> str:
    """The precision training on ``device`` runs at: ``precision``, or "float32" for
    "bfloat16" on a device without native bf16 (with a UserWarning, once per device type)."""
    check_precision(precision)
    device = torch.device(device)
    if precision == "bfloat16" and not bfloat16_supported(device):
        if device.type not in _warned:
            _warned.add(device.type)
            warnings.warn(f"precision='bfloat16' needs native bf16 on {device.type} (AVX512-BF16 or AMX on a CPU); "
                          "this one lacks it, so training runs in float32", UserWarning, stacklevel=3)
        return "float32"
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context a training forward runs in: bf16 autocast for "bfloat16", nothing for "float32"."""
    check_precision(precision)
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bfloat16")
