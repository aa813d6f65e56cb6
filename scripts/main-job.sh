#!/usr/bin/env bash
# The main job: a real render, end to end, on this machine.
#
#   bash scripts/main-job.sh
#
# Installs what is missing, builds the operator and the render function, starts the local
# stand-ins (Kubernetes API server, SeaweedFS as S3, cargo-lambda running the render function),
# installs the CRDs, runs the operator, applies a LambdaBucket, a RenderFunction, a
# RemotionSite (the fixture bundle as a .tar.gz served over local HTTP) and a RenderJob, shows
# the render's progress, and copies the video to ./out/. Everything it starts is stopped when
# it ends, also on Ctrl-C. Each run starts from a clean slate, so re-running it is safe.
#
# Environment: RENDERERS (render function processes besides the orchestrator, default 2),
# COMPOSITION (default Intro), FRAMES_PER_LAMBDA (default 50), PROFILE (debug or release build,
# default debug), KEEP_RUNNING=1 (leave the stand-ins up until Ctrl-C), LAMBDA_SANDBOX=1 (run
# each function process as Lambda runs a container image: read-only root, /tmp only, no
# /dev/shm, uid 993, 2048 MB of memory and CPU in proportion; needs root). After a success the
# RenderJob and its final progress document are in out/run/renderjob.json and
# out/run/progress.json, and the function processes' peak memory in out/run/function-peaks.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${REMOTION_SHARED_DIR:-$here/../shared}
cd "$here"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/remotion-operator/target}
export PATH="$HOME/.cargo/bin:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
renderers=${RENDERERS:-2}
composition=${COMPOSITION:-Intro}
frames_per_lambda=${FRAMES_PER_LAMBDA:-50}
profile=${PROFILE:-debug}
case "$profile" in debug) profile_flag=() ;; release) profile_flag=(--release) ;; *) echo "PROFILE must be debug or release" >&2; exit 2 ;; esac
out_dir="$here/out"
run="$out_dir/run"
logs="$run/logs"
current_step="starting"
current_log=""
pids=()

say() { printf '==> %s\n' "$*"; }
step() {
  current_step=$1
  current_log=${2:-}
  say "$1"
}
fail() {
  echo "main-job: step \"$current_step\" failed: $*" >&2
  [ -n "$current_log" ] && echo "main-job: its log: $current_log (last lines below)" >&2 && tail -n 20 "$current_log" >&2 || true
  exit 1
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  [ -n "${K8S_RUN:-}" ] && bash "$shared/standins/kubernetes/k8s-down.sh" "$K8S_RUN" >/dev/null 2>&1 || true
  if [ $status -ne 0 ] && [ "$current_step" != "done" ]; then
    echo "main-job: stopped during \"$current_step\"; logs are in $logs" >&2
  fi
  exit $status
}
trap cleanup EXIT
trap 'echo; echo "main-job: interrupted" >&2; exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for <what> <seconds> <command…>
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what not ready after ${seconds}s"
}
start() { # start <log> <command…>: runs in the background, remembered for cleanup
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  pids+=($!)
}

# --- 1. Prerequisites and binaries -----------------------------------------------------------
step "installing prerequisites (scripts/install-deps.sh)" "$out_dir/install-deps.log"
mkdir -p "$out_dir"
bash scripts/install-deps.sh >"$current_log" 2>&1 || fail "see the log"

rm -rf "$run" && mkdir -p "$logs"
step "building the operator and the render function" "$logs/build.log"
cargo build --locked "${profile_flag[@]}" -p remotion-operator -p remotion-function --bins >"$current_log" 2>&1 \
  && cargo build --locked "${profile_flag[@]}" -p remotion-tests --bin lambda-front --bin lambda-sandbox >>"$current_log" 2>&1 \
  || fail "cargo build failed"
operator_bin="$CARGO_TARGET_DIR/$profile/remotion-operator"
function_bin="$CARGO_TARGET_DIR/$profile/remotion-function"
front_bin="$CARGO_TARGET_DIR/$profile/lambda-front"

# --- 2. Stand-ins ----------------------------------------------------------------------------
step "starting the Kubernetes API server" "$logs/k8s-up.log"
export K8S_RUN="$run/k8s"
eval "$(bash "$shared/standins/kubernetes/k8s-up.sh" 2>"$current_log")" || fail "k8s-up.sh failed"
export KUBECONFIG
kubectl apply -f "$shared/standins/kubernetes/standin-crds.yaml" >>"$current_log" 2>&1 || fail "stand-in CRDs"
step "installing the CRDs" "$logs/crds.log"
kubectl apply --server-side -f config/crd/ >"$current_log" 2>&1 || fail "kubectl apply config/crd"
kubectl wait --for condition=Established crd --all --timeout=60s >>"$current_log" 2>&1 || fail "CRDs not established"

step "starting SeaweedFS (S3)" "$logs/seaweedfs.log"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testingsecret AWS_REGION=us-east-1
mkdir -p "$run/s3/data"
cat >"$run/s3/s3.json" <<EOF
{"identities":[{"name":"main-job","credentials":[{"accessKey":"testing","secretKey":"testingsecret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
EOF
s3_port=$(free_port)
weed_ports=()
for flag in master.port master.port.grpc volume.port volume.port.grpc filer.port filer.port.grpc s3.port.grpc \
  admin.port admin.port.grpc debug.port s3.debug.port; do
  weed_ports+=("-$flag=$(free_port)")
done
start "$current_log" weed mini -dir="$run/s3/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -admin.ui=false -webdav=false \
  -master.telemetry=false -master.volumeSizeLimitMB=64 -volume.max=2000 -s3.config="$run/s3/s3.json" -s3.allowDeleteBucketNotEmpty=false \
  -s3.port="$s3_port" -s3.port.iceberg=0 -s3.port.lance=0 "${weed_ports[@]}"
s3_endpoint="http://127.0.0.1:$s3_port"
# Ready when it answers S3 (an anonymous listing is refused with 403, which is an answer).
wait_for "SeaweedFS" 90 bash -c "curl -s -o /dev/null -w '%{http_code}' $s3_endpoint/ | grep -qE '^(200|403)$'"

step "starting the Lambda emulator with $((renderers + 1)) render function processes" "$logs/cargo-lambda.log"
mkdir -p "$run/lambda/src"
printf '[package]\nname = "lambda-stub"\nversion = "0.0.0"\nedition = "2021"\n\n[[bin]]\nname = "remotion-render"\npath = "src/main.rs"\n\n[workspace]\n' \
  >"$run/lambda/Cargo.toml"
echo 'fn main() {}' >"$run/lambda/src/main.rs"
lambda_port=$(free_port)
start "$current_log" bash -c "cd '$run/lambda' && exec cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P $lambda_port"
emulator_endpoint="http://127.0.0.1:$lambda_port"
wait_for "cargo-lambda" 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$lambda_port"
# Invocations go through a front that answers as Lambda does (202 for Event invocations, 200 +
# X-Amz-Function-Error for function errors); function processes use the emulator's runtime API.
front_port=$(free_port)
start "$logs/lambda-front.log" "$front_bin" "$front_port" "$emulator_endpoint"
lambda_endpoint="http://127.0.0.1:$front_port"
wait_for "the Lambda front" 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$front_port"
function_pids=()
sandbox=()
[ "${LAMBDA_SANDBOX:-0}" = "1" ] && sandbox=("$CARGO_TARGET_DIR/$profile/lambda-sandbox" 2048 10240)
for i in $(seq 0 "$renderers"); do
  AWS_LAMBDA_RUNTIME_API="$emulator_endpoint/.rt/remotion-render" AWS_LAMBDA_FUNCTION_NAME=remotion-render \
    AWS_LAMBDA_FUNCTION_VERSION='$LATEST' AWS_LAMBDA_FUNCTION_MEMORY_SIZE=2048 \
    AWS_ENDPOINT_URL_S3="$s3_endpoint" AWS_ENDPOINT_URL_LAMBDA="$lambda_endpoint" \
    start "$logs/function-$i.log" "${sandbox[@]}" "$function_bin"
  function_pids+=("${pids[-1]}")
done

step "packing the fixture bundle and serving it over HTTP" "$logs/site-server.log"
bundle="$here/tests/fixtures/remotion-project/build"
[ -f "$bundle/index.html" ] || fail "$bundle is missing (tests/fixtures/remotion-project/build.sh makes it)"
mkdir -p "$run/www"
tar -C "$bundle" -czf "$run/www/site.tar.gz" .
site_sha=$(sha256sum "$run/www/site.tar.gz" | cut -d' ' -f1)
http_port=$(free_port)
start "$current_log" python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$run/www"
wait_for "the site server" 20 curl -sf -o /dev/null "http://127.0.0.1:$http_port/site.tar.gz"

# --- 3. The operator ---------------------------------------------------------------------------
step "starting the operator" "$logs/operator.log"
operator_port=$(free_port)
# The cluster admin's tenancy policy (docs/security.md): one team on this machine, whose
# resources use the operator's identity and the stand-ins on loopback.
cat >"$run/tenancy.yaml" <<EOF
operatorIdentity: ['*']
network:
  allowedPrivateNetworks: [127.0.0.0/8]
EOF
RUST_LOG=${RUST_LOG:-info} start "$current_log" "$operator_bin" --http-addr "127.0.0.1:$operator_port" --log-format text \
  --tenancy-policy "$run/tenancy.yaml"
wait_for "the operator (/ready)" 60 curl -sf "http://127.0.0.1:$operator_port/ready"

# --- 4. The resources --------------------------------------------------------------------------
step "applying a LambdaBucket, a RenderFunction, a RemotionSite and a RenderJob" "$logs/apply.log"
cat >"$run/resources.yaml" <<EOF
apiVersion: remotion-operator.io/v1alpha1
kind: LambdaBucket
metadata:
  name: local
spec:
  region: us-east-1
  endpoint: $s3_endpoint
---
apiVersion: remotion-operator.io/v1alpha1
kind: RenderFunction
metadata:
  name: local
spec:
  region: us-east-1
  endpoint: $lambda_endpoint
  management: Existing
  functionName: remotion-render
  memorySizeMb: 2048
  diskSizeMb: 2048
  timeoutSeconds: 300
  # The emulator runs one invocation per process and queues the rest: the function's capacity
  # is its number of processes (the operator queues renders beyond it).
  maxConcurrentInvocations: $((renderers + 1))
---
apiVersion: remotion-operator.io/v1alpha1
kind: RemotionSite
metadata:
  name: fixture
spec:
  bucketRef:
    name: local
  functionRef:
    name: local
  source:
    url: http://127.0.0.1:$http_port/site.tar.gz
    sha256: $site_sha
---
apiVersion: remotion-operator.io/v1alpha1
kind: RenderJob
metadata:
  name: intro
spec:
  siteRef:
    name: fixture
  functionRef:
    name: local
  composition: $composition
  inputProps:
    titleText: Rendered by remotion-operator
    titleColor: "#33ccff"
  codec: h264
  framesPerLambda: $frames_per_lambda
EOF
kubectl apply -f "$run/resources.yaml" >"$current_log" 2>&1 || fail "kubectl apply"

step "rendering (RenderJob intro)" "$logs/operator.log"
last=""
started=$(date +%s)
while true; do
  line=$(kubectl get renderjob intro -o jsonpath='{.status.phase}|{.status.progress.display}|{.status.progress.stage}|{.status.progress.chunksDone}|{.status.progress.chunksTotal}|{.status.cost.accruedUsd}' 2>/dev/null || true)
  IFS='|' read -r phase percent stage done_chunks total_chunks cost <<<"$line"
  if [ "$line" != "$last" ]; then
    printf '    %4ss  %-10s %5s  %-10s chunks %3s/%-3s cost $%s\n' "$(( $(date +%s) - started ))" "${phase:-Pending}" \
      "${percent:--}" "${stage:--}" "${done_chunks:--}" "${total_chunks:--}" "${cost:-0}"
    last=$line
  fi
  case "$phase" in
    Succeeded) break ;;
    Failed | Cancelled)
      kubectl get renderjob intro -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' >&2
      fail "the RenderJob ended $phase" ;;
  esac
  if [ $(( $(date +%s) - started )) -gt "${RENDER_TIMEOUT:-900}" ]; then fail "no result after ${RENDER_TIMEOUT:-900} s"; fi
  sleep 1
done

# --- 5. The result ---------------------------------------------------------------------------
step "copying the video to ./out/" "$logs/download.log"
url=$(kubectl get renderjob intro -o jsonpath='{.status.output.url}')
# For benchmarks and post-mortems: the job, its final progress document, peak memory per process.
kubectl get renderjob intro -o json >"$run/renderjob.json"
bucket=$(kubectl get renderjob intro -o jsonpath='{.status.bucketName}')
render_id=$(kubectl get renderjob intro -o jsonpath='{.status.renderId}')
curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
  -o "$run/progress.json" "$s3_endpoint/$bucket/renders/$render_id/progress.json" 2>>"$current_log" || true
for i in "${!function_pids[@]}"; do
  pid=${function_pids[$i]}
  peak_file=$(sed -n 's/^lambda-sandbox: peak memory file //p' "$logs/function-$i.log")
  if [ -n "$peak_file" ]; then # the sandbox's memory control group: Chromium included, in kB
    echo "$pid $(( $(cat "$peak_file" 2>/dev/null || echo 0) / 1024 ))"
  else
    echo "$pid $(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
  fi
done >"$run/function-peaks.txt"
file="$out_dir/intro.mp4"
curl -sf -o "$file" "$url" 2>"$current_log" || fail "downloading $url"
kubectl get renderjobs -o wide
echo
kubectl get renderjob intro -o jsonpath='phase:  {.status.phase}{"\n"}cost:   ${.status.cost.accruedUsd} (billed {.status.cost.billedMilliseconds} ms over {.status.cost.invocations} invocations){"\n"}output: {.status.output.s3Uri} ({.status.output.sizeBytes} bytes){"\n"}url:    {.status.output.url}{"\n"}'
echo "video:  $file ($(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height,nb_frames -of csv=p=0 "$file"))"
current_step="done"
if [ "${KEEP_RUNNING:-0}" = "1" ]; then
  echo "KUBECONFIG=$KUBECONFIG — stand-ins stay up until Ctrl-C"
  wait
fi
