#!/usr/bin/env bash
# System libraries point2act's Python dependencies need at run time (open3d: libusb, libGL;
# the CPU rasterizer: a C++ compiler with OpenMP). Installs them with apt-get when missing.
set -euo pipefail
missing=()
ldconfig -p | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
ldconfig -p | grep -q 'libGL.so.1' || missing+=(libgl1)
ldconfig -p | grep -q 'libgomp.so.1' || missing+=(libgomp1)
command -v g++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  echo "point2act: installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
