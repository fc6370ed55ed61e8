// Package ipctest holds the test helpers shared by every ipcplay package:
// the helper-process pattern (re-executing the test binary as a child), a
// unique name prefix for POSIX objects, and a leak check run from TestMain
// that fails the suite when an IPC object the tests created is still there.
//
// It imports only the standard library, so the tests of any package (even
// the primitives shm, semaphore and sockets) may use it without changing the
// import direction of the code they test.
package ipctest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/plural"
)

const (
	envHelper = "IPCPLAY_TEST_HELPER"
	envArgs   = "IPCPLAY_TEST_ARGS"
	envPrefix = "IPCPLAY_TEST_PREFIX"
	envParent = "IPCPLAY_TEST_PARENT"
)

// Main is a package's TestMain. In a child started by Helper it runs the
// named helper function and exits; otherwise it runs the tests, then fails
// the run if objects created by this test process are left behind.
func Main(m *testing.M, helpers map[string]func()) {
	if name := os.Getenv(envHelper); name != "" {
		fn, ok := helpers[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "ipctest: unknown helper %q\n", name)
			os.Exit(2)
		}
		go exitWithParent()
		fn()
		os.Exit(0)
	}
	// Race-detector builds sleep 1 s at exit by default; every re-executed
	// child (helpers and workers inherit this environment) would pay it.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	code := m.Run()
	ccDirs.Range(func(dir, _ any) bool { os.RemoveAll(dir.(string)); return true })
	if leaks := Leaks(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "ipctest: %s left behind by the tests:\n", plural.Count(len(leaks), "IPC object", "IPC objects"))
		for _, l := range leaks {
			fmt.Fprintf(os.Stderr, "  %s\n", l)
		}
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Helper returns a command that re-executes the test binary as the helper
// called name, with args available to it through Args. The child shares
// Prefix, writes its stderr to ours and exits if the test process dies.
func Helper(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	enc, err := json.Marshal(args)
	if err != nil {
		t.Fatalf("ipctest: encode args: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envHelper+"="+name,
		envArgs+"="+string(enc),
		envPrefix+"="+Prefix(),
		envParent+"="+strconv.Itoa(os.Getpid()),
	)
	cmd.Stderr = os.Stderr
	return cmd
}

// exitWithParent ends a helper whose test process died, so that no helper
// outlives its test (and keeps objects alive). Pdeathsig is not used: Linux
// ties it to the forking thread, which in a Go test may be any thread.
func exitWithParent() {
	parent, err := strconv.Atoi(os.Getenv(envParent))
	if err != nil {
		return
	}
	for {
		if os.Getppid() != parent {
			os.Exit(3)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Args returns the arguments a helper process was started with.
func Args() []string {
	var args []string
	if s := os.Getenv(envArgs); s != "" {
		_ = json.Unmarshal([]byte(s), &args)
	}
	return args
}

// IsHelper reports whether this process is a helper child.
func IsHelper() bool { return os.Getenv(envHelper) != "" }

var prefixOnce = sync.OnceValue(func() string {
	if p := os.Getenv(envPrefix); p != "" {
		return p
	}
	return fmt.Sprintf("ipcplay.t%d.", os.Getpid())
})

// Prefix is the POSIX name prefix of this test run, shared with helpers:
// every name a test creates starts with it, so the leak check can find them.
func Prefix() string { return prefixOnce() }

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// Name returns a short POSIX object name for the test: Prefix, the test's
// name with unsafe characters replaced, and suffix.
func Name(t testing.TB, suffix string) string {
	n := unsafeChars.ReplaceAllString(t.Name(), "_")
	if len(n) > 60 {
		n = n[len(n)-60:]
	}
	return Prefix() + n + suffix
}

var tracked struct {
	sync.Mutex
	ids map[string][]int // "shm", "sem", "msg"
}

// TrackSysV records a System V object the tests created, so that Main can
// verify it was removed. kind is "shm", "sem" or "msg".
func TrackSysV(kind string, id int) {
	tracked.Lock()
	defer tracked.Unlock()
	if tracked.ids == nil {
		tracked.ids = map[string][]int{}
	}
	tracked.ids[kind] = append(tracked.ids[kind], id)
}

// Leaks lists the objects of this test run that still exist: POSIX objects
// whose name contains Prefix, tracked System V objects, and System V shared
// memory segments this process created.
func Leaks() []string {
	var out []string
	for _, dir := range []string{"/dev/shm", "/dev/mqueue"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), Prefix()) {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	tracked.Lock()
	ids := tracked.ids
	tracked.Unlock()
	for _, kind := range []string{"shm", "sem", "msg"} {
		live := sysvIDs(kind)
		for _, id := range ids[kind] {
			if _, ok := live[id]; ok {
				out = append(out, fmt.Sprintf("sysv-%s id %d", kind, id))
				delete(live, id)
			}
		}
		if kind == "shm" {
			for id, cpid := range live {
				if cpid == os.Getpid() {
					out = append(out, fmt.Sprintf("sysv-shm id %d (created by this test process)", id))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// sysvIDs reads /proc/sysvipc/<kind> and maps each id to its creator pid
// (known for shm only; -1 otherwise).
func sysvIDs(kind string) map[int]int {
	f, err := os.Open("/proc/sysvipc/" + kind)
	if err != nil {
		return nil
	}
	defer f.Close()
	ids := map[int]int{}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		id, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		cpid := -1
		if kind == "shm" && len(fields) > 4 {
			cpid, _ = strconv.Atoi(fields[4])
		}
		ids[id] = cpid
	}
	return ids
}

// HaveCC reports whether a C compiler (cc) is on PATH.
func HaveCC() bool {
	_, err := exec.LookPath("cc")
	return err == nil
}

var (
	ccCache sync.Map // key -> path
	ccDirs  sync.Map // temporary build directories, removed by Main
)

// CompileC compiles the C file src (relative to the package directory, as
// tests run there) with cc -O2 and returns the binary's path. It skips the
// test, with the reason, when no compiler exists, and fails it when the
// compile fails. Binaries are cached for the life of the test process.
func CompileC(t testing.TB, src string, extraFlags ...string) string {
	t.Helper()
	if !HaveCC() {
		t.Skip("no C compiler (cc) on PATH: C interop/comparison not checked")
	}
	key := src + "\x00" + strings.Join(extraFlags, "\x00")
	if p, ok := ccCache.Load(key); ok {
		return p.(string)
	}
	dir, err := os.MkdirTemp("", "ipctest-cc-")
	if err != nil {
		t.Fatalf("ipctest: %v", err)
	}
	ccDirs.Store(dir, true)
	bin := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c"))
	args := append([]string{"-O2", "-Wall", "-o", bin, src}, extraFlags...)
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("ipctest: cc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	ccCache.Store(key, bin)
	return bin
}
