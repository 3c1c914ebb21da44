#!/bin/bash
# Packs what a bare GPU machine without a package registry needs to train point2act, into .gpu/ (ignored):
# the pure-Python packages of this .venv that its image lacks (nerfstudio, gsplat's sources, viser, tyro, ...) as
# one archive with their metadata, Python 3.12 wheels of the compiled ones nerfstudio imports (rawpy, msgspec),
# stand-ins for open3d (a PLY reader for nerfstudio's parser) and fpsample (imported, never called), and the
# demo's scene and a 40-view 640x480 capture, made here. Run from the repository root; then benchmarks/device/run.sh runs there.
set -euo pipefail
SITE=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
PKGS="gsplat viser nerfstudio trimesh tensorly nerfacc tyro websockets dill typeguard splines pyquaternion
      docstring_parser pytorch_msssim appdirs defusedxml svg_path truststore httpx2 httpcore2 PySocks
      pathos multiprocess ppft pox"
rm -rf .gpu && mkdir -p .gpu/whl .gpu/fake
files=()
for p in $PKGS; do
  for d in "$SITE"/${p}-*.dist-info; do
    files+=("$(basename "$d")")
    while read -r top; do [ -e "$SITE/$top" ] && files+=("$top"); [ -e "$SITE/$top.py" ] && files+=("$top.py"); done \
      < <(cat "$d/top_level.txt" 2>/dev/null || echo "$p")
  done
done
files+=(svg socks.py sockshandler.py)
(cd "$SITE" && tar cJf - --exclude=__pycache__ --exclude=viser/client --exclude='*/tests' $(printf '%s\n' "${files[@]}" | sort -u)) \
  > .gpu/site.tar.xz
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  -d .gpu/whl rawpy==0.28.0 msgspec==0.22.0
cp -r benchmarks/device/stand_ins/* .gpu/fake/
# point2act's own metadata, so nerfstudio's method registry finds it by its entry points there as here
d=$(ls -d "$SITE"/point2act-*.dist-info); mkdir -p ".gpu/fake/$(basename "$d")"
cp "$d/METADATA" "$d/entry_points.txt" ".gpu/fake/$(basename "$d")/"
cp benchmarks/device/run.sh benchmarks/device/call_fresh.sh benchmarks/device/gpu_bench.py .gpu/
.venv/bin/python -c "from pathlib import Path; from point2act.synth import SynthConfig, generate_scene; \
generate_scene(Path('.gpu/scene'), SynthConfig(seed=0)); \
generate_scene(Path('.gpu/scene640'), SynthConfig(seed=0, num_views=40, width=640, height=480))"
# the 640x480 capture's images as JPEG (a phone's format; PNG would take the call past its 64 MiB)
.venv/bin/python - <<'PY'
import json, os
from pathlib import Path
import cv2
root = Path(".gpu/scene640")
t = json.loads((root / "transforms.json").read_text())
for f in t["frames"]:
    src = root / f["file_path"]
    cv2.imwrite(str(src.with_suffix(".jpg")), cv2.imread(str(src)), [cv2.IMWRITE_JPEG_QUALITY, 95])
    os.remove(src)
    f["file_path"] = str(Path(f["file_path"]).with_suffix(".jpg"))
(root / "transforms.json").write_text(json.dumps(t, indent=1))
pts = root / "points" / "oracle.json"
pts.write_text(pts.read_text().replace('.png"', '.jpg"'))
PY
du -sh .gpu
