# gil.py: the GIL lab's Python side (follows ipc/python's worker.py in one
# source). The same CPU-bound task and the same I/O-bound task run one
# after another, in a ThreadPoolExecutor and in a ProcessPoolExecutor, as a
# course writes them; each row reports elapsed time and CPU time.
#
# The CPU-bound task counts primes by trial division in pure Python (the
# same numbers as the Go rows); the I/O-bound one sleeps, which releases
# the GIL as a blocking read does. Processes come from the "fork" context:
# the worker runs as `python3 -c`, which other start methods cannot import
# functions from.
import concurrent.futures as cf
import multiprocessing
import platform
import resource
import time


def count_primes(lo, hi):
    n = 0
    for x in range(lo, hi):
        if x < 2:
            continue
        if x % 2 == 0:
            n += x == 2
            continue
        d = 3
        prime = True
        while d * d <= x:
            if x % d == 0:
                prime = False
                break
            d += 2
        n += prime
    return n


def io_task(wait_s):
    time.sleep(wait_s)
    return 0


def _pool_child_init():
    close_protocol_fds()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass


def _children_cpu_ns():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((ru.ru_utime + ru.ru_stime) * 1e9)


def _run(how, fn, args_list, workers):
    """Run fn over args_list one way; return (elapsed_ns, cpu_ns, results).
    CPU time is this process's (all its threads) plus that of the pool's
    processes, which shutdown() reaps before it is read."""
    cpu0, kids0 = time.process_time_ns(), _children_cpu_ns()
    t0 = time.perf_counter_ns()
    if how == "serial":
        out = [fn(*a) for a in args_list]
    elif how == "threads":
        with cf.ThreadPoolExecutor(max_workers=workers) as ex:
            out = list(ex.map(fn, *zip(*args_list)))
    else:
        ctx = multiprocessing.get_context("fork")
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pool_child_init) as ex:
            out = list(ex.map(fn, *zip(*args_list)))
    elapsed = time.perf_counter_ns() - t0
    cpu = time.process_time_ns() - cpu0 + _children_cpu_ns() - kids0
    return elapsed, cpu, out


def body(spec):
    tasks, size, base = spec["tasks"], spec["size"], spec["base"]
    io_tasks, wait_s = spec["io_tasks"], spec["io_wait_ns"] / 1e9
    trials = max(1, spec.get("trials", 1))
    ready()
    rows = []
    cpu_args = [(base, base + size)] * tasks
    io_args = [(wait_s,)] * io_tasks
    hows = ("serial", "threads", "processes")
    for work, fn, args, n in (("cpu", count_primes, cpu_args, tasks), ("io", io_task, io_args, io_tasks)):
        # The trials take turns (serial, threads, processes, serial...), so
        # that another program's load falls on every row alike; the
        # fastest run of each row counts.
        best = {}
        for _ in range(trials):
            for how in hows:
                if stopped():
                    raise RuntimeError("stopped")
                # What runs now, for the parent's messages (a run timeout
                # says where it hit).
                send({"type": "event", "data": {"work": work, "how": how}})
                elapsed, cpu, out = _run(how, fn, args, n)
                if how not in best or elapsed < best[how][0]:
                    best[how] = (elapsed, cpu, sum(out))
        for how in hows:
            elapsed, cpu, checksum = best[how]
            rows.append({"work": work, "how": how, "workers": 1 if how == "serial" else n,
                         "elapsed_ns": elapsed, "cpu_ns": cpu, "checksum": checksum})
    gil = getattr(sys, "_is_gil_enabled", None)
    return {"rows": rows, "python_version": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "gil_enabled": bool(gil()) if gil else True, "executable": sys.executable}


serve(body)
