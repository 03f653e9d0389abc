"""The one place that lets imgaug 0.4.0 run on NumPy 2.

imgaug reads `np.sctypes` at import and uses `np.complex`; both left NumPy in 2.0.
Import imgaug through `kombat.compat.imgaug()`, never directly.
"""

from __future__ import annotations

import numpy as np

_SCTYPES = {
    "int": [np.int8, np.int16, np.int32, np.int64],
    "uint": [np.uint8, np.uint16, np.uint32, np.uint64],
    "float": [np.float16, np.float32, np.float64],
    "complex": [np.complex64, np.complex128],
    "others": [bool, object, bytes, str, np.void],
}


def _patch_numpy() -> None:
    if not hasattr(np, "sctypes"):
        np.sctypes = _SCTYPES
    if not hasattr(np, "complex"):
        np.complex = complex


def imgaug():
    """Return `(imgaug, imgaug.augmenters)` with NumPy 2 patched first."""
    _patch_numpy()
    import imgaug as ia
    from imgaug import augmenters as iaa

    return ia, iaa
