#!/usr/bin/env bash
# On the device machine (issue 22): unpacks what benches/gpu_pack.sh carried (.gpu/, .gl/),
# installs the Vulkan loader, points Vulkan at the NVIDIA driver where it is, and runs
# benches/gpu_figures.sh into $OUT within DEADLINE_S seconds (default 480, inside one call's
# 10 minutes with the unpacking).
set -uo pipefail
cd "$(dirname "$0")/.."
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
mkdir -p .gpu/dev .gpu/peers
gunzip -c .gpu/prefdissect.gz >.gpu/prefdissect && chmod +x .gpu/prefdissect
tar xzf .gpu/dev.tar.gz -C .gpu/dev
tar xzf .gpu/peers.tar.gz -C .gpu/peers
export PYTHONUNBUFFERED=1
BIN=.gpu/prefdissect DATA=.gpu/dev PEERS=.gpu/peers DEADLINE_S="${DEADLINE_S:-480}" \
    benches/gpu_figures.sh
