#!/usr/bin/env bash
# Prepares, here, what the GPU-figures run (issue 22) carries to the device machine, which has
# no Rust toolchain and no internet: .gpu/ with the stripped release binary (gzipped), the dev
# data and the peers as tarballs, and .gl/ with the Vulkan loader's packages (the device
# README's recipe). Both folders are ignored by git (.git/info/exclude) and must travel as
# `carry: [".gpu", ".gl"]`; together they stay under the tool's 64 MiB. Then, on the device:
#   bash benches/gpu_device_run.sh
# Usage: benches/gpu_pack.sh [DATA] [PEERS]   (defaults ../shared/data/dev, ../shared/peers)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=$(realpath "${1:-../shared/data/dev}")
PEERS=$(realpath "${2:-../shared/peers}")
BIN="${CARGO_TARGET_DIR:-target}/release/prefdissect"
cargo build --release --bin prefdissect
for d in /.gpu/ /.gl/; do
    grep -qxF "$d" .git/info/exclude 2>/dev/null || echo "$d" >>.git/info/exclude
done
rm -rf .gpu && mkdir -p .gpu
gzip -9 -c "$BIN" >.gpu/prefdissect.gz
tar czf .gpu/dev.tar.gz --mode=u+w -C "$DATA" .
tar czf .gpu/peers.tar.gz --mode=u+w -C "$PEERS" .
if ! ls .gl/*.deb >/dev/null 2>&1; then
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update -qq
    # shellcheck disable=SC2086
    (cd .gl && apt-get $o download -qq libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -ch .gpu/* .gl/* | tail -1
echo "carry: [\".gpu\", \".gl\"]; command: bash benches/gpu_device_run.sh"
