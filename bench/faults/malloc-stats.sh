#!/bin/bash
# glibc's own account of the churn's memory (#22 item 6): runs bench/faults/churn.ts and, right
# after the cycle-10 point and at the end (after `--hold-s 20`), makes the process print
# malloc_stats() on its stderr through gdb (system bytes = what each arena holds, in use = live
# allocations). Needs gdb and ptrace permission.
#
#   bash bench/faults/malloc-stats.sh OUT_DIR [CYCLES] [churn.ts flags...]
# e.g.  bash bench/faults/malloc-stats.sh /tmp/mstats 200 --addon /tmp/gst/build/Release/gstreamer-superficial.node
set -u
out=${1:?output directory}
cycles=${2:-200}
shift 2 || shift $#
mkdir -p "$out"
log=$out/run.log
cd "$(dirname "$0")/../.." || exit 1
UV_THREADPOOL_SIZE=64 nice -n 5 npx tsx --expose-gc bench/faults/churn.ts --cycles "$cycles" --every 50 \
  --smaps --hold-s 20 "$@" >"$log" 2>&1 &
early=0
late=0
while sleep 0.2; do
  pid=$(grep -o 'churn (pid [0-9]*' "$log" 2>/dev/null | grep -o '[0-9]*$')
  if [ -n "$pid" ] && [ $early = 0 ] && grep -q 'cycle 10:' "$log"; then
    timeout 30 gdb -p "$pid" -batch -ex 'call (void)malloc_stats()' >"$out/gdb-10.log" 2>&1
    early=1
  fi
  if [ -n "$pid" ] && [ $late = 0 ] && grep -q 'holding' "$log"; then
    sleep 2
    timeout 30 gdb -p "$pid" -batch -ex 'call (void)malloc_stats()' >"$out/gdb-end.log" 2>&1
    late=1
  fi
  grep -q 'RSS after' "$log" && break
  [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && break
done
# One malloc_stats block per call, in order: sum the arenas of each.
awk 'BEGIN { n = 0 } /^Arena [0-9]+:/ { inArena = 1 } /^Total/ { inArena = 0; n++ }
  inArena && /^system bytes/ { sys[n] += $4 } inArena && /^in use bytes/ { use[n] += $5 }
  END { for (i = 0; i < n; i++) printf "malloc_stats %d: arenas hold %.1f MiB, %.1f MiB in use, %.1f MiB free\n", i + 1, sys[i] / 1048576, use[i] / 1048576, (sys[i] - use[i]) / 1048576 }' "$log"
grep -A2 '^Total (incl. mmap)' "$log"
