#!/usr/bin/env bash
# Regenerates the output shown in the "运行示例" sections, by doing what the book tells readers:
# start `cargo run -p otlp-testkit`, run the chapter's program, keep what both printed.
#
#   ci/regen-output.sh                 every listing that has an output/ directory
#   ci/regen-output.sh quickstart ...  only these packages
#
# For each package it writes listings/<part>/<package>/output/run.txt (the program's stderr and
# stdout) and output/receiver.txt (what the receiver printed). Ports 4317 and 4318 must be free.
#
# A program that needs a server names it in its Cargo.toml:
#   [package.metadata.regen-output]
#   servers = ["redis", "nats"]
# and runs with REDIS_URL / NATS_URL pointing at a fresh one (started by `test-servers`).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=("$@")
if [ ${#packages[@]} -eq 0 ]; then
  for dir in listings/*/*/output; do
    [ -d "$dir" ] && packages+=("$(basename "$(dirname "$dir")")")
  done
fi
[ ${#packages[@]} -gt 0 ] || { echo "regen-output: no listing has an output/ directory" >&2; exit 1; }

build_args=(-p otlp-testkit -p test-servers)
for p in "${packages[@]}"; do build_args+=(-p "$p"); done
cargo build --locked --bins "${build_args[@]}"
bin="${CARGO_TARGET_DIR:-target}/debug"

receiver_pid=
stop_receiver() {
  if [ -n "$receiver_pid" ]; then
    kill "$receiver_pid" 2>/dev/null || true
    wait "$receiver_pid" 2>/dev/null || true # killed by us: a non-zero status is expected
    receiver_pid=
  fi
}
servers_pid=
stop_servers() {
  if [ -n "$servers_pid" ]; then
    eval "exec ${servers_in}>&-" # test-servers stops its servers when its stdin closes
    wait "$servers_pid" 2>/dev/null || true
    servers_pid=
  fi
}
trap 'stop_receiver; stop_servers' EXIT

# The servers a package's program needs, from [package.metadata.regen-output] in its Cargo.toml.
servers_of() {
  python3 - "$1" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    meta = tomllib.load(f).get("package", {}).get("metadata", {}).get("regen-output", {})
print(" ".join(meta.get("servers", [])))
PY
}

for p in "${packages[@]}"; do
  dir=$(dirname "$(ls listings/*/"$p"/Cargo.toml 2>/dev/null | head -n 1)")
  [ -f "$dir/Cargo.toml" ] || { echo "regen-output: no listing crate named $p" >&2; exit 1; }
  mkdir -p "$dir/output"
  server_env=()
  read -r -a servers <<< "$(servers_of "$dir/Cargo.toml")"
  if [ ${#servers[@]} -gt 0 ]; then
    coproc SERVERS { "$bin/test-servers" "${servers[@]}"; }
    servers_pid=$SERVERS_PID
    servers_in=${SERVERS[1]}
    for _ in "${servers[@]}"; do
      IFS= read -r line <&"${SERVERS[0]}" || { echo "regen-output: test-servers failed for $p" >&2; exit 1; }
      server_env+=("$line")
    done
  fi
  NO_COLOR=1 "$bin/otlp-testkit" > "$dir/output/receiver.txt" 2>/dev/null &
  receiver_pid=$!
  for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/4317) 2>/dev/null && break
    kill -0 "$receiver_pid" 2>/dev/null || { echo "regen-output: otlp-testkit did not start (ports 4317/4318 busy?)" >&2; exit 1; }
    sleep 0.1
  done
  # The program's own log goes to stderr; keep both streams, without colour codes.
  if ! env "${server_env[@]}" NO_COLOR=1 "$bin/$p" > "$dir/output/run.txt" 2>&1; then
    echo "regen-output: $p failed; its output is in $dir/output/run.txt" >&2
    exit 1
  fi
  # shutdown() returned only after the receiver answered, and the receiver prints before it
  # answers, so receiver.txt is complete here.
  stop_receiver
  stop_servers
  echo "regen-output: $dir/output/{run,receiver}.txt"
done
