// Package python finds and probes the CPython interpreter that ipcplay's
// Python workers and labs run on: `python3` from PATH, or a path the user
// gives (--python). It only reads: it starts the interpreter to ask for its
// version, its GIL state and whether ctypes reaches libc's sem_open and
// semop, and creates no IPC object.
//
// The scripts ipcplay runs are real .py files of the repository, embedded
// in the binary (go:embed), given to `python3 -I -B -c BOOTSTRAP` on its
// standard input (Args): isolated from the user's PYTHON* variables and
// site packages, writing no .pyc files, needing no file on disk.
package python

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MinMajor and MinMinor are the oldest Python ipcplay's scripts run on
// (3.8: threading.get_native_id, shared_memory's era of multiprocessing).
const (
	MinMajor = 3
	MinMinor = 8
)

// Install is the advice every "no usable Python" error ends with.
const Install = "install it with `apt-get install python3` (Debian, Ubuntu) or give one with --python PATH"

// Sentinel errors, wrapped by Find.
var (
	ErrNotFound = errors.New("python: interpreter not found")
	ErrTooOld   = errors.New("python: interpreter too old")
	ErrBroken   = errors.New("python: interpreter does not run")
)

//go:embed probe.py
var probeSource string

//go:embed worker.py
var workerSource string

// Program is the source of a Python worker: worker.py (the worker
// protocol of ipc/worker, in Python: spec, ready, start barrier, stop,
// result) followed by body, which defines body(spec) -> dict and ends
// with serve(body). Run it with Args under worker.Spec.Command.
func Program(body string) string { return workerSource + "\n" + body }

// Interpreter is a probed Python interpreter.
type Interpreter struct {
	// Path is the file ipcplay executes: the --python value made absolute,
	// or python3 as found in PATH.
	Path string `json:"path"`
	// Executable is sys.executable: the interpreter behind Path (Path may
	// be a symlink or a pyenv shim).
	Executable     string `json:"executable"`
	Version        string `json:"version"`      // "3.11.7"
	VersionInfo    []int  `json:"version_info"` // [3, 11, 7]
	Implementation string `json:"implementation"`
	// GILEnabled is sys._is_gil_enabled() where it exists (3.13+), else
	// true: before 3.13 every CPython has a GIL.
	GILEnabled bool `json:"gil_enabled"`
	// FreeThreaded is a build with Py_GIL_DISABLED (python3.13t...): its
	// GIL is off unless PYTHON_GIL=1 or an extension turned it back on.
	FreeThreaded bool `json:"free_threaded_build"`
	// SemOpen and Semop name the library where ctypes found sem_open and
	// semop ("libc.so.6", or "libpthread.so.0" before glibc 2.34); "" when
	// it did not.
	SemOpen string `json:"sem_open"`
	Semop   string `json:"semop"`
	// SwitchIntervalS is sys.getswitchinterval(): how long a thread may
	// hold the GIL before it is asked to drop it, in seconds.
	SwitchIntervalS float64 `json:"switch_interval_s"`
}

// Label is how tables name the interpreter: "CPython 3.11.7 (GIL on)".
func (in *Interpreter) Label() string {
	gil := "GIL on"
	if !in.GILEnabled {
		gil = "GIL off"
	}
	name := "CPython"
	if in.Implementation != "" && in.Implementation != "cpython" {
		name = in.Implementation
	}
	return fmt.Sprintf("%s %s (%s)", name, in.Version, gil)
}

// Lookup resolves the interpreter to run without starting it: path when
// given (it must exist and be executable), else python3 from PATH. A
// directory of PATH this user cannot search (a pyenv shim under another
// user's home) is skipped, as exec.LookPath does. Errors wrap ErrNotFound
// and say how to install Python.
func Lookup(path string) (string, error) {
	if path == "" {
		p, err := exec.LookPath("python3")
		if err != nil {
			return "", fmt.Errorf("%w: no python3 in PATH; %s", ErrNotFound, Install)
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return p, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNotFound, path, err)
	}
	st, err := os.Stat(abs)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %s: no such file; %s", ErrNotFound, path, Install)
	case st.IsDir():
		return "", fmt.Errorf("%w: %s is a directory, not an interpreter; %s", ErrNotFound, path, Install)
	case st.Mode()&0o111 == 0:
		return "", fmt.Errorf("%w: %s is not executable; %s", ErrNotFound, path, Install)
	}
	return abs, nil
}

// Find looks the interpreter up (see Lookup) and probes it: it runs it
// once (bounded by 10 s) and checks it is Python 3.8 or newer. Errors wrap
// ErrNotFound, ErrBroken or ErrTooOld and end with how to install Python.
// A probe is remembered for the file it ran (by path, inode, size and
// modification time): a run's Validate and Run, in one process, start
// the interpreter once (a pyenv shim takes a second or more).
func Find(ctx context.Context, path string) (*Interpreter, error) {
	p, err := Lookup(path)
	if err != nil {
		return nil, err
	}
	key := fileKey(p)
	if v, ok := probes.Load(key); ok && key != "" {
		in := *v.(*Interpreter)
		return &in, nil
	}
	in, err := probe(ctx, p)
	if err == nil && key != "" {
		c := *in
		probes.Store(key, &c)
	}
	return in, err
}

// probes remembers successful probes by fileKey.
var probes sync.Map

// fileKey identifies the file p resolves to, or "" when it cannot be
// read.
func fileKey(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return ""
	}
	var ino uint64
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = sys.Ino
	}
	return fmt.Sprintf("%s\x00%d\x00%d\x00%d", p, ino, st.Size(), st.ModTime().UnixNano())
}

func probe(ctx context.Context, p string) (*Interpreter, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, Args("probe.py", "ipcplay-probe")...)
	cmd.Env = Env(nil)
	cmd.Stdin = strings.NewReader(probeSource)
	// Its own process group: a Ctrl-C at the terminal is for ipcplay,
	// which cancels the run, not a reason to call the interpreter broken.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// Python 2 has no -I: ask it its version the old way, to say so.
		if v, ok := oldVersion(ctx, p); ok {
			return nil, fmt.Errorf("%w: %s is %s, ipcplay needs %d.%d or newer; %s", ErrTooOld, p, v, MinMajor, MinMinor, Install)
		}
		why := strings.TrimSpace(lastLine(stderr.String()))
		if why == "" {
			why = err.Error()
		}
		return nil, fmt.Errorf("%w: %s: %s; %s", ErrBroken, p, why, Install)
	}
	in := &Interpreter{}
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), in); err != nil || len(in.VersionInfo) < 2 {
		return nil, fmt.Errorf("%w: %s did not answer like Python 3 (%q); %s", ErrBroken, p, strings.TrimSpace(stdout.String()), Install)
	}
	in.Path = p
	if v := in.VersionInfo; v[0] < MinMajor || (v[0] == MinMajor && v[1] < MinMinor) {
		return in, fmt.Errorf("%w: %s is Python %s, ipcplay needs %d.%d or newer; %s", ErrTooOld, p, in.Version, MinMajor, MinMinor, Install)
	}
	return in, nil
}

// Args are the interpreter's arguments to run a program whose source
// comes on standard input (see Spec.Stdin in ipc/worker): -I (isolated:
// no PYTHON* variables, no user site, no script directory on sys.path),
// -B (no .pyc files), and a one-line -c that compiles stdin under name
// (what tracebacks show) and runs it as __main__; then argv0 (sys.argv[0],
// what ps shows) and args. The command line stays short, whatever the
// size of the program.
func Args(name, argv0 string, args ...string) []string {
	boot := "import sys;exec(compile(sys.stdin.read()," + strconv.Quote(name) + ",'exec'))"
	return append([]string{"-I", "-B", "-c", boot, argv0}, args...)
}

// Env is the environment of a Python child: ours, plus extra, with
// PYTHONDONTWRITEBYTECODE and without PYTHONSTARTUP-like variables (-I
// ignores them anyway; this keeps `ps e` honest).
func Env(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHON") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PYTHONDONTWRITEBYTECODE=1")
	return append(env, extra...)
}

// FreeThreadedInPath lists the free-threaded interpreters in PATH
// (python3.13t, python3.14t...), absolute, in version order.
func FreeThreadedInPath() []string {
	var out []string
	for minor := 13; minor <= 20; minor++ {
		if p, err := exec.LookPath(fmt.Sprintf("python3.%dt", minor)); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			out = append(out, p)
		}
	}
	return out
}

// oldVersion runs `p --version` (Python 2 prints "Python 2.7.18" on
// stderr) and reports the version when it is a Python older than 3.
func oldVersion(ctx context.Context, p string) (string, bool) {
	out, err := exec.CommandContext(ctx, p, "--version").CombinedOutput()
	v := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(v, "Python ") || strings.HasPrefix(v, "Python 3") {
		return "", false
	}
	return v, true
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
