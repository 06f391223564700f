#!/usr/bin/env bash
# Fuzzes every parser of procuring (cargo-fuzz crate in fuzz/: targets stat, status, io, schedstat,
# cgroup, cmdline) for N seconds each (default 10). CI runs a few seconds each (make test-fuzz);
# a long run, e.g. ten minutes per target on every core but one:
#
#   FUZZ_JOBS=$(( $(nproc) - 1 )) scripts/fuzz.sh 600
#
# or one target for as long as you like:
#
#   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run stat -- -max_total_time=3600
#
# Each target checks invariants beyond "no panic": on error the field struct is all zero, on
# success it equals a reference decoding written with std (fuzz/fuzz_targets/common.rs), texts
# are slices of the input. A failure leaves the input in fuzz/artifacts/<target>/; turn it into
# a regression test in tests/reliability.rs.
#
# Toolchain: cargo-fuzz needs nightly flags (-Zsanitizer); this script sets RUSTC_BOOTSTRAP=1 so
# the default toolchain, stable included, accepts them (the ASan runtime ships with stable's
# rust-std for x86_64-unknown-linux-gnu). FUZZ_SANITIZER=none disables ASan (faster, and the
# fallback if ASan is unavailable). cargo-fuzz is installed from crates.io when missing.
#
# Environment: FUZZ_TARGETS (space-separated subset), FUZZ_JOBS (parallel jobs per target,
# default 1), FUZZ_SANITIZER (address | none; default address).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

secs=${1:-10}
targets=${FUZZ_TARGETS:-stat status io cgroup cmdline schedstat}
jobs=${FUZZ_JOBS:-1}
sanitizer=${FUZZ_SANITIZER:-address}

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# -Zsanitizer and friends on whatever toolchain is the default (stable included).
export RUSTC_BOOTSTRAP=1

# Seeds: the fixture trees' files and this machine's own, so short runs start from real text.
seed() {
  local target=$1 file=$2 dir=fuzz/corpus/$1 i=0
  mkdir -p "$dir"
  for src in tests/fixtures/proc/*/"$file" tests/fixtures/hostile/*/"$file" /proc/self/"$file" /proc/1/"$file"; do
    if [ -f "$src" ] && [ -r "$src" ]; then
      cat "$src" >"$dir/seed-$file-$i" 2>/dev/null || rm -f "$dir/seed-$file-$i"
    fi
    i=$((i + 1))
  done
}
for t in $targets; do
  case $t in
    cmdline) seed cmdline cmdline; seed cmdline environ ;;
    *) seed "$t" "$t" ;;
  esac
done

cd fuzz
for t in $targets; do cargo fuzz build --sanitizer "$sanitizer" "$t"; done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
for t in $targets; do
  echo "== fuzz $t: ${secs}s, $jobs job(s), sanitizer $sanitizer"
  args=(-max_total_time="$secs" -print_final_stats=1)
  if [ "$jobs" -gt 1 ]; then
    args+=(-fork="$jobs")
  fi
  rc=0
  cargo fuzz run --sanitizer "$sanitizer" "$t" -- "${args[@]}" >"$log" 2>&1 || rc=$?
  grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" || true
  if [ $rc -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz $t: FAILED (exit $rc; input in fuzz/artifacts/$t/)"
    status=1
  else
    echo "fuzz $t: ok"
  fi
done
exit $status
