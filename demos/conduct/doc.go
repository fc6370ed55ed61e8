// Package conduct is the conductor of scheduled runs: it lets exactly one
// step of one worker run at a time, in the order a schedule says, over one
// step protocol that Go and Python workers speak alike. The race lab
// (`ipcplay race --schedule`, `--step`) and the deadlock lab (`ipcplay demo
// deadlock --schedule`) use it.
//
// # Schedules
//
// A schedule (SPEC) is a comma list, parsed by ParseSchedule:
//
//	P<n>          worker n (1-based) takes its next step
//	P<n>:<step>   the same, and the step must be the one worker n is at
//	random        from here on, a seeded random worker among those that can
//	              move takes the next step (--seed N; the same seed gives
//	              the same steps); only as the last entry
//
// After the entries (unless the last is random) the remaining steps run in
// the fixed order: the lowest-numbered worker that can move (not finished,
// not blocked) takes its next step, again and again, until every worker has
// finished. Each worker's steps are a fixed sequence (a Plan), so a
// schedule names a worker that has finished, or a step a worker is not at,
// can be checked before anything is created (CheckSchedule). Only "a worker
// whose step is still blocked" depends on the run; the conductor stops the
// run then, with the steps so far, and reports a usage error (exit 2).
//
// # The step protocol (version 1)
//
// Transport: one SOCK_STREAM socketpair per stepping worker thread (a
// process with --unit process, each racing thread with --unit thread). The
// conductor keeps one end; the worker inherits the other as a file
// descriptor, whose number its spec names (race: "step_fds", one per thread
// of the worker process, in thread order; deadlock: "step_fd"). Messages
// are JSON objects, one per line ("\n"-terminated, UTF-8), at most 4 KiB.
// Unknown fields are ignored by both sides.
//
// Worker to conductor:
//
//	{"type":"at","pid":1234,"tid":1240,"next":"load"}
//	    First message, sent once the worker is past the start barrier and
//	    ready to take its first step. pid and tid are the process and the
//	    kernel thread that will execute the steps (the conductor reads
//	    /proc/PID/task/TID to see a step blocked). next is the name of the
//	    step the worker will take when told; "" if it has none.
//
//	{"type":"did","op":"load","read":0,"wrote":null,"counter":0,
//	 "next":"store","note":""}
//	    Sent when a step has completed, exactly one per "step" command.
//	    op is the step just taken; read and wrote are the values it loaded
//	    and stored (null when it did neither: lock, unlock, send, recv);
//	    counter is the shared counter read right after the step (null in
//	    labs without one); note is optional text (a timed wait that expired,
//	    "starts with the token"); timed_out is true when the step was a
//	    timed wait that expired. next is the step the worker will take next,
//	    "" when it has taken all its steps: it sends nothing more and
//	    finishes as an ordinary worker (its result on the worker control
//	    socket).
//
// Conductor to worker:
//
//	{"type":"step"}
//	    Take the next step (the one the last "at" or "did" named). The
//	    conductor sends it only after the "did" of the previous command, so
//	    each worker has at most one step in flight.
//
// EOF on the step socket tells a worker the conductor is gone: it stops
// (returns an error) without taking another step.
//
// The order: the conductor releases the start barrier, reads one "at" from
// every worker, then for each schedule entry sends "step" to the worker it
// names and waits for its "did". The worker's "next" must equal the step
// the conductor's plan for that worker expects (a check that Go and Python
// workers follow the same table).
//
// # Writing a worker (Go or Python)
//
// A race worker takes, for each of its --iters increments, the steps of
// its mode in the order of the mode table (demos/race/modes_linux.go):
//
//	unsafe, unsafe-go      load, store
//	atomic                 add
//	sysv-sem, posix-sem, posix-sem-unnamed, futex, flock, mutex
//	                       lock, load, store, unlock
//	socket-token           recv, load, store, send
//
// load reads the shared counter ("read": the value); store writes the
// value the same worker's last load read plus one ("wrote"); add is one
// atomic add ("read": the old value, "wrote": the new one). Every "did"
// carries the counter as the worker reads it right after the step. The
// first worker's first recv of socket-token takes nothing (it starts with
// the token; say so in "note"); after its last step it reads the token
// once more, outside the protocol, as the timed loop does. The worker
// updates its tally slot after the last step of each increment, as in a
// timed run. A lock step must block in the kernel in one of the system
// calls its StepDef lists (a Python worker calling semop, futex, flock or
// recv through the C library does), or the conductor cannot see it blocked
// and the step times out. The deadlock lab's workers take lock, lock,
// unlock, unlock (their first semaphore, then their second).
//
// # Blocked steps
//
// A worker never reports that it is blocked: it cannot, being inside the
// blocking call. The conductor sees it from the kernel's state: while it
// waits for a "did", it reads /proc/PID/task/TID/stat (state S or D) and
// /proc/PID/task/TID/syscall (the system call the thread sleeps in, which
// must be one the step may block in, e.g. semop/semtimedop for a System V
// P, futex for a futex or POSIX semaphore, flock, read/recvfrom for a
// token), plus /proc/PID/task/TID/wchan, and a lab's own probe (semncnt of
// a System V semaphore). Seen twice in a row, 1 ms apart, with no "did"
// arrived, the step is blocked: it is shown as a row with blocked true,
// naming what it waits for and who holds it, and the conductor goes on with
// the schedule. The blocked step's "did" arrives when the holder releases:
// the conductor then waits for it before the next entry (so that which
// workers can move never depends on timing) and shows it as a second row
// for the same step with blocked false. A step that neither completes nor
// blocks within StepTimeout is an error.
//
// When every unfinished worker is blocked, no step can move: a deadlock.
// The conductor calls the lab's OnStuck hook (the deadlock lab builds the
// wait-for cycle from the kernel's semaphore state there) and then waits for
// a blocked step to end on its own (a timed wait that expires).
package conduct
