"""Device-bench stand-in for open3d: reads the binary PLY clouds nerfstudio's parser loads (x, y, z doubles or
floats; red, green, blue uchar). Only for timing training on a machine without an open3d wheel."""
import types
import numpy as np

_T = {"double": "<f8", "float": "<f4", "uchar": "u1", "float32": "<f4", "float64": "<f8", "uint8": "u1"}


class _Cloud:
    def __init__(self, pts, cols):
        self.points, self.colors = pts, cols


def _read(path):
    with open(path, "rb") as f:
        names, n = [], 0
        while True:
            line = f.readline().decode().strip()
            if line.startswith("element vertex"):
                n = int(line.split()[-1])
            elif line.startswith("property"):
                _, t, name = line.split()
                names.append((name, _T[t]))
            elif line == "end_header":
                break
        a = np.frombuffer(f.read(np.dtype(names).itemsize * n), dtype=np.dtype(names), count=n)
    pts = np.stack([a["x"], a["y"], a["z"]], 1).astype(np.float64)
    cols = np.stack([a["red"], a["green"], a["blue"]], 1).astype(np.float64) / 255.0
    return _Cloud(pts, cols)


io = types.SimpleNamespace(read_point_cloud=_read)
visualization = types.ModuleType("open3d.visualization")
