// Package race is ipcplay's race lab (`ipcplay race`): N workers each add 1
// to one shared counter M times, and the lab shows how many updates were
// lost, why, and what each way of making the increment safe costs.
//
// # Modes
//
// Every mode increments the same 8-byte counter in a shared memory region
// (shm.Spec{Kind: --shm}), except the two thread-only modes that use an
// ordinary Go variable:
//
//	unsafe             a load and a separate store: atomic.LoadUint64 (a
//	                   plain MOV on amd64, LDAR on arm64), then a plain
//	                   store of value+1. The load is a real memory access the
//	                   compiler may not cache or merge with the store (an
//	                   atomic load is an ordering point for it); the store
//	                   is an ordinary MOV/STR. The pair is NOT atomic: this
//	                   is what C's `volatile counter++` compiles to.
//	atomic             atomic.AddUint64: LOCK XADD on amd64, LDADDAL (or an
//	                   LL/SC loop) on arm64.
//	sysv-sem           a System V binary semaphore, P and V with semop(2)
//	                   (SEM_UNDO unless --undo=false) around the increment:
//	                   exactly one system call each, as in C. P is
//	                   Set.Op with one blocking -1: Set.P first tries a
//	                   non-blocking semop and blocks in a second call when
//	                   that fails, which under contention lets the
//	                   releaser take the semaphore back more often and
//	                   halves the cost C would measure.
//	posix-sem          a named POSIX semaphore (semaphore.Named, glibc's
//	                   sem_wait/sem_post algorithm on /dev/shm/sem.NAME).
//	posix-sem-unnamed  the same algorithm on a sem_t placed in the region.
//	futex              semaphore.Mutex, a three-state futex mutex in the region.
//	flock              flock(2) LOCK_EX / LOCK_UN on a file in the run's
//	                   private directory. Each worker (each thread) opens the
//	                   file itself: flock locks belong to the open file
//	                   description, so locks taken through one shared
//	                   descriptor would never conflict.
//	socket-token       a one-byte token goes round a ring of Unix socketpairs
//	                   (worker i receives it from i-1, increments, sends it to
//	                   i+1): message passing serialises the increments.
//
// Inside every lock the increment is the same unsafe load and store: the lock
// alone makes it correct. With --unit thread the same modes run as goroutines
// locked to OS threads (runtime.LockOSThread) inside one worker process, plus
//
//	mutex              sync.Mutex around x++ on an ordinary Go variable.
//	unsafe-go          x++ on an ordinary Go variable, through a pointer (the
//	                   compiler emits one ADD/INC on memory, or LDR/ADD/STR on
//	                   arm64: no LOCK prefix, so updates are lost across CPUs;
//	                   with --window or --yield it is a separate load and
//	                   store).
//
// unsafe-go is a data race by design. The functions that perform it carry
// //go:norace, so that `go test -race` of this package (and of the commands
// that embed it) checks everything else and does not report the race the
// lab exists to show.
//
// # Widening the window
//
// --window D waits D between the load and the store (a busy wait below 1 ms,
// a sleep from 1 ms on); --yield calls sched_yield(2) there (runtime.Gosched
// would not give the CPU to another process). Either makes the race visible
// on one CPU too (--cpus 0): the scheduler runs another worker while one
// holds a stale value. The same gap is put between the load and the store
// inside every lock, where it changes the cost, never the count.
//
// # Measurement
//
// Workers leave the start barrier together; each records CLOCK_MONOTONIC
// before its first and after its last increment. elapsed_ns is the last end
// minus the first start, ns_per_op is elapsed_ns divided by the increments of
// all workers (procs × iters): the wall time one increment costs the system
// as a whole. Every worker also stores its progress in a per-worker tally
// slot of the region (shm.SlotOffset, one cache line each, or all on one line
// with --same-line to show false sharing).
//
// # Results
//
// The document is Result: "kind" "race" and one ModeResult per mode, with
// the fields DESIGN.md fixes (mode, unit, procs, iters, shm, expected,
// actual, lost, elapsed_ns, ns_per_op, witnesses) and more: lost_pct,
// ops_per_sec, CPU time and context switches per increment, the lock and
// the place of the counter, a one-line explanation, and "trials" (count,
// lossy, lost_min/median/max and per-trial lost and elapsed_ns). With
// --trials K, actual and lost are those of the median trial by lost
// updates, elapsed_ns is the median of the trials' times. A safe mode that
// loses an update in any trial is marked "broken" and the run returns its
// table together with an error wrapping ErrLostUpdates that names the mode
// (exit status 1). Bad parameters are refused by Validate before anything
// exists (ipc.UsageError, exit status 2).
//
// # Witnesses
//
// With --explain or --trace every worker records the increments whose
// loaded value v has v&mask < window (see sampling): windows of
// consecutive counter values spread over the whole count, the same for
// every worker, so the increments of one lost update (they loaded the same
// v) are recorded together wherever in the run it happens, up to --record
// per worker. A record holds the value read, the value written and two
// CLOCK_MONOTONIC timestamps: t1 right after the load and t2 right before
// the store, so load < t1 and t2 < store. The records live in the worker's
// own area of the region and are read after the trial. FindWitnesses then
// looks for increments of different workers that read the same value v and
// wrote v+1 with max(t1) < min(t2): then every one of those loads happened
// before every one of those stores, k increments produced one value, and
// k-1 updates were lost (a timed witness). A value read by several workers
// that the clocks cannot order still proves the loss (the final count F
// needs one increment per value 0..F-1): an untimed witness. Each witness
// carries the --schedule line that replays it from 0.
//
// # Overlap
//
// overlap_pct is the share of a trial's wall time (first start to last
// end) during which two or more workers were between their start and end
// stamps. An unsafe mode that lost nothing explains itself from it.
//
// # Modes in one place
//
// Each mode is one modeDef (modes_linux.go): what it creates and resets,
// what a worker opens, its steps for the conductor and its timed loop, and
// its words. The steps and the loop call the same thread primitives.
//
// # Scheduled runs
//
// With Params.Schedule (--schedule) the workers run the mode's steps one
// at a time under the conductor of package conduct, whose doc describes
// the schedule language and the step protocol that Go and Python workers
// speak. ModeResult.Steps is the step table.
//
// The records travel in the result's "trace" field only when Params.Trace
// is set (bounded to 200,000 increments, the first trial of each mode);
// the CLI writes them to the --trace file and leaves them out of what it
// prints. --trace FILE turns the records into Chrome trace JSON (Perfetto, or
// chrome://tracing): one track per worker, one slice per increment from t1
// to t2, lost updates marked.
package race
