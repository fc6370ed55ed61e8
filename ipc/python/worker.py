# worker.py: the ipcplay worker protocol, for workers written in Python
# (embedded by ipc/python, prepended to each worker body by Program).
#
# ipcplay starts this interpreter as a worker child (ipc/worker, Spec.Command)
# with `python3 -I -B -c BOOTSTRAP`; BOOTSTRAP runs the source given on stdin:
# this file followed by the worker's body (race.py, gil.py). The protocol is
# the Go workers' one:
#
#   fd 3  control socket, one JSON object per line both ways: the parent's
#         {"type":"spec"} first, then our {"type":"ready"}, {"type":"event"},
#         and finally {"type":"result"} or {"type":"error"}; the parent may
#         send {"type":"stop"}. EOF means the parent died: exit at once.
#   fd 4  start barrier: read it until EOF after "ready".
#   fd 5+ the handed-over files (a memfd region...).
#
# Python 3.8 or newer; standard library only.
import json
import os
import select
import sys
import threading
import traceback

FD_CONTROL = 3
FD_BARRIER = 4

_send_lock = threading.Lock()
_stop = threading.Event()


def log(level, message, **kv):
    """Write one hclog-shaped JSON line to stderr: the parent re-logs it at
    its level with our pid."""
    entry = {"@level": level, "@message": message}
    entry.update(kv)
    try:
        sys.stderr.write(json.dumps(entry) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def send(msg):
    data = (json.dumps(msg, separators=(",", ":")) + "\n").encode()
    with _send_lock:
        view = memoryview(data)
        while view:
            n = os.write(FD_CONTROL, view)
            view = view[n:]


def stopped():
    """True once the parent asked us to stop."""
    return _stop.is_set()


def _read_lines(f):
    for line in f:
        yield json.loads(line)


def _watch(lines):
    # Runs in a daemon thread for the worker's whole life: a stop request
    # sets the flag, EOF (the parent is gone) ends the process, so that a
    # worker never outlives the run that owns its objects.
    try:
        for m in lines:
            if m.get("type") == "stop":
                _stop.set()
    except (OSError, ValueError):
        pass
    os._exit(3)


def ready():
    """Tell the parent we are prepared, then wait at the start barrier until
    the parent releases every worker of the group at once. Returns False if
    the parent asked us to stop first."""
    send({"type": "ready"})
    while not _stop.is_set():
        r, _, _ = select.select([FD_BARRIER], [], [], 0.05)
        if r:
            if os.read(FD_BARRIER, 1) == b"":
                os.close(FD_BARRIER)
                return True
    return False


def close_protocol_fds():
    """For processes forked by a worker (multiprocessing children): drop
    the control socket and the barrier, so that the parent sees EOF as soon
    as the worker itself is gone."""
    for fd in (FD_CONTROL, FD_BARRIER):
        try:
            os.close(fd)
        except OSError:
            pass


class UsageError(Exception):
    """Bad input: the parent reports it as usage (exit status 2)."""


def serve(body):
    """Read the spec, run body(spec) and report its result (a JSON-able
    dict) or its error. Never returns."""
    f = os.fdopen(FD_CONTROL, "r", encoding="utf-8", closefd=False)
    lines = _read_lines(f)
    try:
        first = next(lines)
    except (StopIteration, OSError, ValueError) as e:
        log("error", "no spec from parent", error=str(e))
        os._exit(2)
    if first.get("type") != "spec":
        log("error", "no spec from parent", got=first.get("type"))
        os._exit(2)
    threading.Thread(target=_watch, args=(lines,), daemon=True).start()
    # CPUs: the parent pinned this process before exec (Spec.CPUs).
    try:
        result = body(first.get("data") or {})
    except UsageError as e:
        send({"type": "error", "error": str(e), "usage": True})
        os._exit(1)
    except BaseException as e:  # noqa: B036 - everything is reported
        log("debug", "worker failed", traceback=traceback.format_exc())
        send({"type": "error", "error": "%s: %s" % (type(e).__name__, e)})
        os._exit(1)
    send({"type": "result", "data": result})
    sys.stdout.flush()
    os._exit(0)
