"""imgaug 0.4.0 on NumPy 2: only through kombat.compat, which patches what NumPy 2 removed and nothing more."""

from __future__ import annotations

import ast
import subprocess
import sys

import numpy as np
import pytest

from kombat import compat

from .conftest import ROOT

# A fresh interpreter, so that no earlier import has patched NumPy already.
FRESH = """
import numpy as np
from kombat.compat import imgaug
ia, iaa = imgaug()
image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
assert np.array_equal(iaa.Fliplr(1.0)(image=image), image[:, ::-1])
noisy = [iaa.AdditiveGaussianNoise(scale=20, seed=3)(image=image) for _ in range(2)]
assert noisy[0].dtype == np.uint8 and np.array_equal(noisy[0], noisy[1]) and not np.array_equal(noisy[0], image)
print("ok")
"""


@pytest.mark.skipif(np.lib.NumpyVersion(np.__version__) < "2.0.0", reason="NumPy 1 still has np.sctypes")
def test_imgaug_does_not_import_on_numpy_2_by_itself_but_does_through_compat():
    plain = subprocess.run([sys.executable, "-c", "import imgaug"], capture_output=True, text=True)
    assert plain.returncode != 0 and "sctypes" in plain.stderr  # why kombat.compat exists
    patched = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True)
    assert patched.returncode == 0, patched.stderr[-2000:]
    assert patched.stdout.strip() == "ok"


def test_the_patch_fills_only_what_is_missing(monkeypatch):
    own_sctypes, own_complex = {"int": [np.int64]}, object()
    monkeypatch.setattr(np, "sctypes", own_sctypes, raising=False)
    monkeypatch.setattr(np, "complex", own_complex, raising=False)
    compat._patch_numpy()
    assert np.sctypes is own_sctypes and np.complex is own_complex
    monkeypatch.delattr(np, "sctypes")
    monkeypatch.delattr(np, "complex")
    compat._patch_numpy()
    assert np.complex is complex
    assert np.uint8 in np.sctypes["uint"] and np.float32 in np.sctypes["float"]


def imports_imgaug(path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "imgaug" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "imgaug":
            return True
    return False


def test_no_other_module_imports_imgaug_directly():
    direct = [str(path.relative_to(ROOT)) for path in (ROOT / "src/kombat").rglob("*.py")
              if path.name != "compat.py" and imports_imgaug(path)]
    assert direct == [], "import imgaug through kombat.compat.imgaug() (NumPy 2 needs its patch first)"
    assert imports_imgaug(ROOT / "src/kombat/compat.py")  # the check can see an import
