"""point2act._scipy: scipy's k-d tree without scipy.spatial's package init, the same class as scipy's."""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_tree_without_the_package_then_the_package_exports_the_same_class():
    out = _run(
        "import sys, numpy as np\n"
        "from point2act._scipy import cKDTree, kdtree_class\n"
        "t = cKDTree(np.random.default_rng(0).uniform(size=(500, 3)))\n"
        "d, i = t.query([[0.5, 0.5, 0.5]], k=3)\n"
        "print('spatial' if 'scipy.spatial' in sys.modules else 'alone', 'special' in ' '.join(sys.modules))\n"
        "import scipy.spatial\n"
        "print(scipy.spatial.cKDTree is kdtree_class(), type(t) is scipy.spatial.cKDTree)\n"
        "d2, i2 = scipy.spatial.cKDTree(t.data).query([[0.5, 0.5, 0.5]], k=3)\n"
        "print(np.array_equal(i, i2) and np.array_equal(d, d2))\n")
    assert out.split() == ["alone", "False", "True", "True", "True"]


def test_after_scipy_spatial_it_is_scipys_class():
    out = _run("import scipy.spatial\nfrom point2act._scipy import kdtree_class\n"
               "print(kdtree_class() is scipy.spatial.cKDTree)\n")
    assert out.strip() == "True"


def test_where_the_module_cannot_be_loaded_alone_the_package_import_runs():
    out = _run(
        "import sys, numpy as np\n"
        "from point2act import _scipy\n"
        "def broken(name):\n    raise ImportError('another layout')\n"
        "_scipy._load_alone = broken\n"
        "cls = _scipy.kdtree_class()\n"
        "import scipy.spatial\n"
        "print(cls is scipy.spatial.cKDTree, int(_scipy.cKDTree(np.eye(3)).query([1.0, 0.0, 0.0])[1]))\n")
    assert out.split() == ["True", "0"]
