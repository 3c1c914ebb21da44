"""point2act's C++ CPU kernels, all of them: the list and their build.

Each kernel is compiled for the machine on first use and cached (:mod:`point2act._cpp`). ``point2act build``
(which ``make``'s setup runs after installing) builds them all at once, as installing a compiled package would,
so that no run waits for the compiler: a GPU run's end-of-training relevancy refit and export views, or a CPU
run's first step. A run on a machine where they are not built yet builds them itself.

Check: ``point2act build`` prints each kernel's cache folder; a second call builds nothing.
"""

from __future__ import annotations

import time
from typing import List


def extensions() -> List:
    """Every CPU extension point2act uses: the rasterizer, the fused losses, the relevancy fit_numpy, the grasp kernels,
    the synthetic scene's noise, the plane sweep's comparison."""
    from point2act import ssim
    from point2act.requery import fit_numpy
    from point2act.grasp import _kernel
    from point2act.render import _backend
    from point2act.startcloud import plane_sweep
    from point2act.synth import noise

    return [_backend.EXTENSION, ssim.EXTENSION, fit_numpy.EXTENSION, _kernel.EXTENSION, noise.EXTENSION,
            plane_sweep.EXTENSION]


def build_all() -> List[str]:
    """Build (where not yet built) and load every extension, their builds side by side; one line per extension
    (its cache folder) and the seconds taken. Raises the compiler's message where a build fails."""
    from point2act._cpp import BackgroundBuild

    t0 = time.perf_counter()
    exts = extensions()
    bg = BackgroundBuild(exts).start()
    bg.thread.join()
    for ext in exts:
        ext.load()  # raises with the compiler's output where the background build failed
    lines = [f"{ext.what}: {ext.build_dir()}" for ext in exts]
    lines.append(f"{len(exts)} kernels ready in {time.perf_counter() - t0:.1f} s")
    return lines


__all__ = ["build_all", "extensions"]
