// Package lab holds ipcplay's teaching labs, run with `ipcplay demo NAME`:
// each one makes an idea of a processes-and-IPC course happen on real
// processes and prints the measured outcome beside a short explanation.
//
//	crash                 a lock holder is SIGKILLed inside its critical section:
//	                      which primitives recover (SEM_UNDO, flock, an owner
//	                      record) and which stay stuck
//	deadlock              two workers take two System V semaphores in opposite
//	                      order; the kernel's GETPID/GETNCNT show the wait-for
//	                      cycle; a global lock order removes it
//	threads-vs-processes  creation cost of a goroutine, an OS thread and a
//	                      process; who sees a write to a variable or to shared
//	                      memory
//	pool                  a process pool with futures over Unix sockets beside a
//	                      goroutine pool
//	parallelism           CPU-bound and I/O-bound work with GOMAXPROCS=1, N and
//	                      pinning: when concurrency helps and when only
//	                      parallelism does
//	blocking              a blocking read, a non-blocking read (EAGAIN) and
//	                      epoll on several sockets
//	sync-async            the same requests one after another and all in flight
//	fd-passing            a descriptor sent over SCM_RIGHTS to another process
//	peercred              SO_PEERCRED tells a server who connected; another uid
//	                      is refused
//
// Every lab is an ipc.Experiment named "demo-" + the lab's name (Labs,
// Experiments). Its JSON document starts with Header: {"kind":"demo",
// "lab":"crash","ok":true,"explanation":"..."} followed by the lab's rows;
// Render prints it as text. A lab that ran but did not behave as its
// explanation says returns its document together with an error (exit 1).
//
// # Decisions
//
// One experiment per lab (not one "demo" experiment with a lab parameter):
// each lab has its own parameters, validated before anything is created,
// and its own document, and `ipcplay runs` shows which lab ran.
//
// Timing-dependent expectations (parallelism's speed-up, the creation-cost
// order of threads-vs-processes, sync-async's overlap) use generous bounds,
// and the parallelism lab keeps the fastest of --trials runs; a machine busy
// with other programs can still make such a lab report, correctly, that it
// did not behave as explained (the problem names the load average).
//
// peercred listens on an abstract socket ("@ipcplay.RUN.peercred"): it has
// no file and no permissions, so the SO_PEERCRED check is the only gate,
// and a client of another uid can reach it without opening up the run's
// 0700 directory. As root, that client is a worker started with
// worker.Spec.Credential (uid and gid --uid, no supplementary groups); it
// starts from /proc/self/exe, which needs only execute permission on the
// binary, not access to its directory. Without root the row is skipped and
// says what the rule would decide.
//
// Every wait of every lab has a timeout, and every object is created through
// the run's ipc.Env, so a lab leaves nothing behind however it ends. The
// package builds on Linux only.
package lab
