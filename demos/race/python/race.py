# race.py: ipcplay's Python race worker (follows worker.py in one source).
#
# Runs one or more racers, each doing `counter += 1` --iters times, on the
# run's real objects: the shared region (a memfd inherited as a descriptor,
# a POSIX shm object opened by name in /dev/shm, a System V segment attached
# by id), the run's named POSIX semaphore (libc's sem_open through ctypes:
# the same glibc object ipcplay's pure-Go semaphore package implements), its
# System V semaphore set (semop through ctypes), its lock file
# (fcntl.flock). The course's own forms run here too: a global with and
# without threading.Lock (--unit thread), and multiprocessing.Value with and
# without get_lock() (this worker is then the parent that starts the
# racing children with multiprocessing, as the course's code does).
#
# Python's resource_tracker unlinks shared memory that a process merely
# attached to with multiprocessing.shared_memory (cpython issues 82300 and
# 104291). So this worker never uses shared_memory or named
# multiprocessing semaphores: it maps the regions itself, and its
# multiprocessing objects use the "fork" context, whose semaphores are
# unlinked as soon as they are created (no sem.mp-* name stays) and whose
# heap file is unlinked at once (no pym-* file stays). The result says
# whether a resource tracker was started at all (it must not be).
import ctypes
import errno
import fcntl
import mmap
import platform
import time

SEM_UNDO = 0x1000
_CLOCK = time.CLOCK_MONOTONIC
_now = time.clock_gettime_ns


def _libc():
    return ctypes.CDLL("libc.so.6", use_errno=True)


def _func(name, restype, argtypes):
    """name from libc, or from libpthread before glibc 2.34."""
    for lib in ("libc.so.6", "libpthread.so.0"):
        try:
            f = getattr(ctypes.CDLL(lib, use_errno=True), name)
        except (OSError, AttributeError):
            continue
        f.restype, f.argtypes = restype, argtypes
        return f
    raise OSError("ctypes cannot find %s in libc.so.6 or libpthread.so.0" % name)


def _oserror(what):
    e = ctypes.get_errno()
    return OSError(e, "%s: %s" % (what, os.strerror(e)))


class Region:
    """The run's shared region, mapped read-write; q is a memoryview of
    uint64 words (offset // 8)."""

    def __init__(self, handle, size):
        kind, _, rest = handle.partition(":")
        self.kind, self._detach, self._mm = kind, None, None
        if kind == "memfd":
            fd = int(rest[len("fd="):])
            self._mm = mmap.mmap(fd, size)
            buf = self._mm
        elif kind in ("posix", "file"):
            path = "/dev/shm/" + rest if kind == "posix" else rest
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                self._mm = mmap.mmap(fd, size)
            finally:
                os.close(fd)
            buf = self._mm
        elif kind == "sysv":
            shmat = _func("shmat", ctypes.c_void_p, [ctypes.c_int, ctypes.c_void_p, ctypes.c_int])
            shmdt = _func("shmdt", ctypes.c_int, [ctypes.c_void_p])
            addr = shmat(int(rest), None, 0)
            if addr is None or addr == ctypes.c_void_p(-1).value:
                raise _oserror("shmat %s" % rest)
            self._detach = lambda: shmdt(addr)
            buf = (ctypes.c_char * size).from_address(addr)
        else:
            raise UsageError("unknown region handle %r" % handle)
        self.view = memoryview(buf).cast("B")
        self.q = self.view.cast("Q")

    def close(self):
        self.q.release()
        self.view.release()
        if self._mm is not None:
            self._mm.close()
        if self._detach is not None:
            self._detach()


class PosixSem:
    """The run's named semaphore through glibc's sem_open: the interop proof
    with ipcplay's pure-Go implementation of the same layout."""

    def __init__(self, name):
        self._open = _func("sem_open", ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int])
        self._wait = _func("sem_wait", ctypes.c_int, [ctypes.c_void_p])
        self._post = _func("sem_post", ctypes.c_int, [ctypes.c_void_p])
        self._close = _func("sem_close", ctypes.c_int, [ctypes.c_void_p])
        self.sem = self._open(name.encode(), 0)  # oflag 0: open, never create
        if self.sem is None or self.sem == ctypes.c_void_p(-1).value:  # SEM_FAILED
            raise _oserror("sem_open %s" % name)

    def acquire(self):
        while self._wait(self.sem) != 0:
            if ctypes.get_errno() != errno.EINTR:
                raise _oserror("sem_wait")

    def release(self):
        if self._post(self.sem) != 0:
            raise _oserror("sem_post")

    def close(self):
        self._close(self.sem)


class _Sembuf(ctypes.Structure):
    # struct sembuf, <sys/sem.h>
    _fields_ = [("sem_num", ctypes.c_ushort), ("sem_op", ctypes.c_short), ("sem_flg", ctypes.c_short)]


class SysVSem:
    """Semaphore 0 of the run's System V set, P and V with semop(2)."""

    def __init__(self, semid, undo):
        self._semop = _func("semop", ctypes.c_int, [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t])
        self.id = semid
        flg = SEM_UNDO if undo else 0
        self._p = _Sembuf(0, -1, flg)
        self._v = _Sembuf(0, 1, flg)

    def acquire(self):
        while self._semop(self.id, ctypes.byref(self._p), 1) != 0:
            if ctypes.get_errno() != errno.EINTR:
                raise _oserror("semop P on set %d" % self.id)

    def release(self):
        if self._semop(self.id, ctypes.byref(self._v), 1) != 0:
            raise _oserror("semop V on set %d" % self.id)

    def close(self):
        pass


class Flock:
    """flock(2) on the run's lock file; each racer opens it itself, so its
    lock conflicts with the others' (one open file description each)."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)

    def acquire(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self):
        os.close(self.fd)


COUNTER = 0  # the `global` and `threading-lock` modes' counter
_THREAD_LOCK = threading.Lock()

# Modes whose counter is in the region, and the lock each takes.
REGION_MODES = ("unsafe", "posix-sem", "sysv-sem", "flock")


def gil_enabled():
    f = getattr(sys, "_is_gil_enabled", None)
    return bool(f()) if f else True


def _gap(spec):
    if spec.get("yield"):
        os.sched_yield()
    w = spec.get("window_ns", 0)
    if w >= 1000000:
        time.sleep(w / 1e9)
    elif w > 0:
        t = _now(_CLOCK)
        while _now(_CLOCK) - t < w:
            pass


def _lock_for(spec):
    mode = spec["mode"]
    if mode == "posix-sem":
        return PosixSem(spec["sem_name"])
    if mode == "sysv-sem":
        return SysVSem(spec["sem_id"], spec.get("undo", True))
    if mode == "flock":
        return Flock(spec["lock_file"])
    return None


class Racer:
    """One racer: a thread of this worker (or the worker's only one)."""

    def __init__(self, spec, region, index):
        self.spec, self.region, self.index = spec, region, index
        k = index - spec["first"]
        self.tally = spec["tally_offs"][k] // 8
        self.trace = spec["trace_offs"][k] // 8 if spec.get("record") else -1
        self.lock = _lock_for(spec)
        self.result = None
        self.error = None

    def run(self, start):
        spec = self.spec
        try:
            k = self.index - spec["first"]
            pins = spec.get("pin_cpus") or []
            if len(pins) > k:
                os.sched_setaffinity(0, {pins[k]})
            tid = threading.get_native_id()
            start.wait()
            fds = spec.get("step_fds") or []
            if fds:
                self.result = self._steps(tid, fds[k])
            else:
                self.result = self._loop(tid)
        except BaseException as e:  # reported by the main thread
            self.error = e

    def _step_table(self):
        """The mode's steps, named as in the Go table (modes_linux.go), so
        that the conductor's plan and this worker agree: each is
        (name, do), do returning (read, wrote)."""
        q, counter, lock, mode = self.region.q, self.spec["counter_off"] // 8, self.lock, self.spec["mode"]
        held = [0]

        def load():
            held[0] = COUNTER if mode == "global" or mode == "threading-lock" else q[counter]
            return held[0], None

        def store():
            global COUNTER
            if mode == "global" or mode == "threading-lock":
                COUNTER = held[0] + 1
            else:
                q[counter] = held[0] + 1
            return None, held[0] + 1

        def lock_(acquire):
            def do():
                acquire()
                return None, None
            return do

        if mode == "threading-lock":
            lock = _THREAD_LOCK
        steps = [("load", load), ("store", store)]
        if lock is not None:
            steps = [("lock", lock_(lock.acquire))] + steps + [("unlock", lock_(lock.release))]
        return steps

    def _counter(self):
        if self.spec["mode"] in ("global", "threading-lock"):
            return COUNTER
        return self.region.q[self.spec["counter_off"] // 8]

    def _steps(self, tid, fd):
        """A scheduled run: one step per "step" of the conductor, over the
        step protocol (package conduct, version 1) on fd."""
        steps, iters, tally = self._step_table(), self.spec["iters"], self.tally
        f = os.fdopen(fd, "rb", buffering=0)
        buf = [b""]

        def send(m):
            data = (json.dumps(m, separators=(",", ":")) + "\n").encode()
            while data:
                data = data[os.write(fd, data):]

        def wait():
            while b"\n" not in buf[0]:
                chunk = os.read(fd, 256)
                if not chunk:
                    raise RuntimeError("step protocol: the conductor closed the step socket")
                buf[0] += chunk
            line, _, buf[0] = buf[0].partition(b"\n")
            m = json.loads(line)
            if m.get("type") != "step":
                raise RuntimeError("step protocol: unknown message %r" % m.get("type"))

        t0 = _now(_CLOCK)
        send({"type": "at", "pid": os.getpid(), "tid": tid, "next": steps[0][0]})
        ops = 0
        for i in range(iters):
            for k, (name, do) in enumerate(steps):
                wait()
                if stopped():
                    raise RuntimeError("stopped after %d increments" % ops)
                read, wrote = do()
                if k == len(steps) - 1:
                    ops = i + 1
                    self.region.q[tally] = ops
                nxt = steps[k + 1][0] if k + 1 < len(steps) else (steps[0][0] if i + 1 < iters else "")
                send({"type": "did", "op": name, "read": read, "wrote": wrote,
                      "counter": self._counter(), "next": nxt, "note": ""})
        f.close()
        return {"index": self.index, "tid": tid, "start_ns": t0, "end_ns": _now(_CLOCK), "ops": ops, "recorded": 0}

    def _loop(self, tid):
        spec, q = self.spec, self.region.q if self.region else None
        mode, iters = spec["mode"], spec["iters"]
        counter, tally, lock = spec["counter_off"] // 8, self.tally, self.lock
        gap = spec.get("window_ns", 0) > 0 or spec.get("yield", False)
        # Records: the increments that load a sampled value v (v & mask <
        # window), as the Go workers choose them, up to `record` of them.
        nrec = spec.get("record", 0) if self.trace >= 0 else 0
        mask, window = spec.get("rec_mask", 0), spec.get("rec_window", 0)
        rec, n = self.trace, 0
        t0 = _now(_CLOCK)
        done = 0
        global COUNTER
        while done < iters:
            if stopped():
                raise RuntimeError("stopped after %d increments" % done)
            end = min(done + 4096, iters)
            if mode == "global":
                for i in range(done, end):
                    COUNTER += 1
                    q[tally] = i + 1
            elif mode == "threading-lock":
                for i in range(done, end):
                    with _THREAD_LOCK:
                        COUNTER += 1
                    q[tally] = i + 1
            else:
                for i in range(done, end):
                    if lock is not None:
                        lock.acquire()
                    v = q[counter]
                    if n < nrec and v & mask < window:
                        t1 = _now(_CLOCK)
                        if gap:
                            _gap(spec)
                        t2 = _now(_CLOCK)
                        q[counter] = v + 1
                        r = rec + 4 * n
                        q[r], q[r + 1], q[r + 2], q[r + 3] = v, t1, t2, v + 1
                        n += 1
                    else:
                        if gap:
                            _gap(spec)
                        q[counter] = v + 1
                    if lock is not None:
                        lock.release()
                    q[tally] = i + 1
            done = end
        return {"index": self.index, "tid": tid, "start_ns": t0, "end_ns": _now(_CLOCK),
                "ops": done, "recorded": n}


def _wait_go_workers(spec, region):
    # Go workers meet at a start line (the region's `started` word, two
    # rounds of atomic adds); Python has no atomic add, so it does not take
    # part and waits until the Go workers have crossed it.
    n = spec.get("line_go", 0)
    if n <= 0:
        return
    word, byte = divmod(spec["started_off"], 8)  # a uint32, little-endian
    while not stopped():
        if (region.q[word] >> (byte * 8)) & 0xFFFFFFFF >= 2 * n:
            return
        os.sched_yield()


def race_threads(spec):
    """--unit process (one racer) or --unit thread (several)."""
    region = Region(spec["region"], spec["size"])
    racers = [Racer(spec, region, spec["first"] + k) for k in range(spec["threads"])]
    start = threading.Barrier(len(racers) + 1)
    threads = [threading.Thread(target=r.run, args=(start,), name="racer%d" % r.index) for r in racers]
    for t in threads:
        t.start()
    try:
        if not ready():
            start.abort()
            raise RuntimeError("stopped before the start")
        if not spec.get("step_fds"):
            _wait_go_workers(spec, region)
        start.wait()
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join()
    errs = [r.error for r in racers if r.error is not None]
    for r in racers:
        if r.lock is not None:
            r.lock.close()
    region.close()
    if errs:
        raise errs[0]
    return {"threads": [r.result for r in racers], "py_counter": COUNTER}


def _mp_child(k, spec, value, out, barrier):
    """One multiprocessing child: `value.value += 1`, with or without
    value.get_lock(), as the course writes it."""
    close_protocol_fds()
    try:
        libc = _libc()
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: never outlive the worker
    except (OSError, AttributeError):
        pass
    pins = spec.get("pin_cpus") or []
    if pins:
        os.sched_setaffinity(0, {pins[k % len(pins)]})
    region = Region(spec["region"], spec["size"])  # the region's fd or name survived the fork
    q, tally = region.q, spec["tally_offs"][k] // 8
    iters, locked = spec["iters"], spec["mode"] == "mp-value-lock"
    barrier.wait()
    t0 = _now(_CLOCK)
    if locked:
        lock = value.get_lock()
        for i in range(iters):
            with lock:
                value.value += 1
            q[tally] = i + 1
    else:
        for i in range(iters):
            value.value += 1
            q[tally] = i + 1
    out[3 * k], out[3 * k + 1], out[3 * k + 2] = t0, _now(_CLOCK), iters
    region.close()


def race_mp(spec):
    """mp-value and mp-value-lock: this worker is the course's parent
    process; its children race on one multiprocessing.Value."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    n = spec["threads"]
    value = ctx.Value("q", 0)  # lock=True, as the course writes it
    out = ctx.RawArray("q", 3 * n)
    barrier = ctx.Barrier(n + 1)
    procs = [ctx.Process(target=_mp_child, args=(k, spec, value, out, barrier), name="P%d" % (k + 1))
             for k in range(n)]
    for p in procs:
        p.start()
    try:
        if not ready():
            raise RuntimeError("stopped before the start")
        barrier.wait(timeout=30)
        for p in procs:
            while p.is_alive():
                p.join(0.05)
                if stopped():
                    raise RuntimeError("stopped")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
            p.join()
    bad = [p for p in procs if p.exitcode != 0]
    if bad:
        raise RuntimeError("multiprocessing child %s exited with %s" % (bad[0].name, bad[0].exitcode))
    threads = [{"index": k, "tid": procs[k].pid, "start_ns": out[3 * k], "end_ns": out[3 * k + 1],
                "ops": out[3 * k + 2], "recorded": 0} for k in range(n)]
    return {"threads": threads, "py_counter": value.value}


def body(spec):
    mode = spec.get("mode")
    if spec.get("switch_interval_ns"):
        sys.setswitchinterval(spec["switch_interval_ns"] / 1e9)
    if mode in ("mp-value", "mp-value-lock"):
        res = race_mp(spec)
    elif mode in REGION_MODES or mode in ("global", "threading-lock"):
        res = race_threads(spec)
    else:
        raise UsageError("mode %r: a Python worker cannot run it" % mode)
    tracker = None
    mp = sys.modules.get("multiprocessing.resource_tracker")
    if mp is not None:
        tracker = getattr(getattr(mp, "_resource_tracker", None), "_pid", None)
    res.update({
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "gil_enabled": gil_enabled(),
        "switch_interval_s": sys.getswitchinterval(),
        "resource_tracker_pid": tracker,
    })
    return res


serve(body)
