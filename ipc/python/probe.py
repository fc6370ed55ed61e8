# probe.py: what ipcplay needs to know about a Python interpreter, printed
# as one JSON line. Run by ipc/python (Find) through python.Args, its
# source on stdin.
# It must run on any Python 3 (even one too old for ipcplay) so that the
# version check can name the version it found.
import ctypes
import json
import platform
import sys


def libc_symbol(name):
    """Return where ctypes finds name: libc.so.6 (glibc 2.34+ has the
    semaphore functions there) or libpthread.so.0 (older glibc)."""
    for lib in ("libc.so.6", "libpthread.so.0"):
        try:
            getattr(ctypes.CDLL(lib), name)
            return lib
        except (OSError, AttributeError):
            continue
    return ""


gil = getattr(sys, "_is_gil_enabled", None)
info = {
    "executable": sys.executable,
    "version": platform.python_version(),
    "version_info": list(sys.version_info[:3]),
    "implementation": getattr(getattr(sys, "implementation", None), "name", "cpython"),
    # sys._is_gil_enabled exists from 3.13; before, the GIL is always on.
    "gil_enabled": bool(gil()) if gil else True,
    "free_threaded_build": bool(__import__("sysconfig").get_config_var("Py_GIL_DISABLED")),
    "sem_open": libc_symbol("sem_open"),
    "semop": libc_symbol("semop"),
    "switch_interval_s": sys.getswitchinterval(),
}
sys.stdout.write(json.dumps(info) + "\n")
