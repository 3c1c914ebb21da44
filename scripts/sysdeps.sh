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
# The viewer's browser test (tests/test_viewer_browser.py) drives Debian's headless Chromium.
# Not fatal here: without it that test fails loudly, naming what is missing.
browser=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || browser+=(chromium)
command -v chromedriver >/dev/null || browser+=(chromium-driver)
if [ ${#browser[@]} -gt 0 ]; then
  echo "point2act: installing system packages for the browser test: ${browser[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${browser[@]}"; } ||
    echo "point2act: WARNING: could not install ${browser[*]}; tests/test_viewer_browser.py will fail" >&2
fi
