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
// Every wait of every lab has a timeout, and every object is created through
// the run's ipc.Env, so a lab leaves nothing behind however it ends. The
// package builds on Linux only.
package lab
