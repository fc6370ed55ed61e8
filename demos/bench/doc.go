// Package bench is ipcplay's transport lab (`ipcplay bench`): it measures
// the latency and throughput of every way two processes on one Linux
// machine can exchange messages, with numbers a C program would agree
// with.
//
// Each cell of the matrix (transport x pattern x message size) runs in two
// fresh worker processes, a sender and a receiver ("bench-pipe-sender"...),
// connected by objects the parent made through the run's Env, so that
// nothing outlives the run: one memfd for the shared memory rings of the
// whole run (laid out again for each cell), socketpairs, pipes, fifos in
// the run's directory, a loopback TCP connection, a System V queue, two
// POSIX queues or two eventfds. Named and kernel objects are in the ledger
// before use and removed when their cell ends.
//
// Pattern pingpong times round trips in the sender (one message out, its
// echo back): a row's messages are round trips, its bytes messages x size
// (one way), its latency the round trip. Pattern stream sends back to back
// and ends each run with the receiver's acknowledgement, so the elapsed
// time covers delivery of the last message; one message in 16 carries its
// send time (CLOCK_MONOTONIC) and the receiver records the one-way
// latency, queueing included. eventfd carries only an 8-byte counter: it
// has a pingpong row of size 8 and no stream.
//
// Measurement rules: the monotonic clock; a warm-up before counting; runs
// bounded by duration or count; --repeat runs in a row in the same two
// workers, the row showing the median by msgs/s and the spread; latency
// percentiles from an HDR histogram (3 significant digits); CPU time and
// context switches from getrusage(RUSAGE_SELF) of each worker around its
// measured loop, added up; optional pinning of the two ends.
//
// The hot loops are kept as lean as the C references in testdata: one
// system call per message and direction on blocking descriptors (not Go's
// netpoller), made with RawSyscall (sys_linux.go explains why); no copy a
// C program would not make (a shm receiver checks the slot in place; a
// System V queue sends from the buffer the message was built in); no
// allocation, with the garbage collector off. shm-sem is the exception that
// proves the rule: it waits through package semaphore, whose futex calls
// are scheduler-aware. The shm ring (ring.go) is the algorithm of
// testdata/shmring.c, line for line.
//
// Every message carries a sequence number and a CRC-32 checksum (see
// message.go); the receiver counts lost, corrupt and reordered messages,
// and any of them makes the run fail (the result is still returned). With
// --transport all, a size beyond a transport's limit (kernel.msgmax,
// fs.mqueue.msgsize_max, net.core.wmem_max, the engine's --max-shm) and a
// transport the system lacks are skipped with the reason; named
// explicitly, they are refused before anything is created.
//
// Before its cells, a run measures the hardware's floor on its CPUs
// (floor.go): a cache line bounced between two pinned worker processes
// (two context switches when both ends share one CPU) and
// memcpy at each message size; every row carries its p50 over the floor
// that applies (x_floor). Before it reports, the run judges its numbers
// (judge.go): a floor the hardware cannot have, or that a row beat, is
// suspect; a row whose percentiles rest on too few samples, whose tail is
// long (with its likely cause, from the context switches and the load), or
// that fell behind its --rate, carries warnings in plain words. --spin sweeps shm-adaptive's polling budget;
// --rate sends open loop, timing each message from its scheduled send
// time (coordinated omission corrected); --load runs CPU hog workers
// (load.go) on the run's CPUs until the run ends. Each transport is one
// entry of the table in transports.go: its limits, notes, setup (parent)
// and open (worker).
//
// TestCompareC and testdata/compare.sh run the C references and the same
// cells here, interleaved, and print the ratios; TestCompareFloor and
// testdata/floor-compare.sh do so for the floor, shm-spin, shm-adaptive
// and one-CPU streaming.
package bench
