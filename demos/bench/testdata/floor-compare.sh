#!/bin/sh
# floor-compare.sh: every ratio of issue 14 (bench's floor against an
# independent C core-to-core measurement, shm-spin against the floor and
# against C, shm-adaptive against the C spin-then-futex ring, shm stream
# 64 KiB on one CPU against C), measured alternately on two allowed CPUs
# (TestCompareFloor). Run it on a quiet machine. Options go to go test.
#
#   demos/bench/testdata/floor-compare.sh
#   IPCPLAY_COMPARE_ROUNDS=11 IPCPLAY_COMPARE_PAIR=2,3 demos/bench/testdata/floor-compare.sh
set -eu
cd "$(dirname "$0")/.."
IPCPLAY_COMPARE_C=1 exec go test -count=1 -run '^TestCompareFloor$' -v -timeout 30m "$@" .
