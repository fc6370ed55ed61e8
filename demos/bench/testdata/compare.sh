#!/bin/sh
# compare.sh: run the C references (pingpong.c, shmring.c) and the same
# cells of ipcplay bench on this machine, interleaved, and print the
# ratios (TestCompareC). Options go to go test, e.g. -timeout 1h.
#
#   demos/bench/testdata/compare.sh
#   IPCPLAY_COMPARE_ROUNDS=9 IPCPLAY_COMPARE_CPUS="0,1" demos/bench/testdata/compare.sh
set -eu
cd "$(dirname "$0")/.."
IPCPLAY_COMPARE_C=1 exec go test -count=1 -run '^TestCompareC$' -v -timeout 30m "$@" .
