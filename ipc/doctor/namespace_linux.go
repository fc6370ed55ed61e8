package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// initIPCNS is the IPC namespace of the host: the kernel gives the initial
// namespaces fixed inode numbers (PROC_IPC_INIT_INO = 0xEFFFFFFF,
// include/linux/proc_ns.h), so "ipc:[4026531839]" is the host's even
// when pid 1's link cannot be read.
const initIPCNS = "ipc:[4026531839]"

// namespaceChecks says whether ipcplay runs in the host's IPC namespace,
// what another one means for `objects --all` and for programs outside,
// and whether this looks like a container (with /dev/shm's size).
func namespaceChecks() []Check {
	ns := ipcNamespaceFrom("/proc")
	return []Check{ns, containerFrom("/", "/dev/shm", strings.HasPrefix(ns.Detail, "the host's"))}
}

func ipcNamespaceFrom(proc string) Check {
	c := Check{Name: "ipc namespace", Status: Info}
	self, err := os.Readlink(filepath.Join(proc, "self/ns/ipc"))
	if err != nil {
		c.Detail = fmt.Sprintf("cannot read /proc/self/ns/ipc: %v", err)
		return c
	}
	one, err1 := os.Readlink(filepath.Join(proc, "1/ns/ipc"))
	var host bool
	switch {
	case err1 == nil:
		host = one == self
		c.Detail = fmt.Sprintf("%s; pid 1: %s", self, one)
	default:
		// pid 1 unreadable (another user's, or ptrace rules): the fixed
		// inode of the initial namespace still tells.
		host = self == initIPCNS
		c.Detail = fmt.Sprintf("%s; pid 1's is not readable (%v), the host's initial namespace is %s", self, unwrapPath(err1), initIPCNS)
	}
	if host && (err1 != nil || self == initIPCNS) {
		c.Detail = "the host's IPC namespace (" + c.Detail + ")"
		c.Advice = ""
		return c
	}
	if host {
		// Same as pid 1 but not the initial one: we are in a container
		// whose pid 1 shares our namespace.
		c.Detail = "the same IPC namespace as pid 1, but not the host's initial one (" + c.Detail + "): a container's own IPC namespace"
	} else {
		c.Detail = "not the host's IPC namespace (" + c.Detail + ")"
	}
	c.Advice = "'ipcplay objects --all' lists the System V objects and POSIX message queues of THIS namespace only; programs outside it (the host, other containers) cannot see or use ipcplay's, nor ipcplay theirs. " +
		"/dev/shm files and Unix sockets by path are shared only through a shared mount; 'docker run --ipc=host' (or --ipc=container:NAME) shares the namespace and /dev/shm (try 'ipcplay demo namespaces')"
	return c
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// containerMarkers lists the container markers under root: /.dockerenv
// (Docker), /run/.containerenv (Podman), /run/systemd/container
// (systemd-nspawn and others), runtime names in /proc/1/cgroup, and
// container= in pid 1's environment (where readable).
func containerMarkers(root string) []string {
	var out []string
	for _, f := range []string{".dockerenv", "run/.containerenv"} {
		if _, err := os.Stat(filepath.Join(root, f)); err == nil {
			out = append(out, "/"+f)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "run/systemd/container")); err == nil {
		out = append(out, "/run/systemd/container says "+strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile(filepath.Join(root, "proc/1/cgroup")); err == nil {
		for _, rt := range []string{"docker", "kubepods", "containerd", "libpod", "lxc", "crio"} {
			if strings.Contains(string(b), rt) {
				out = append(out, "/proc/1/cgroup mentions "+rt)
				break
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "proc/1/environ")); err == nil {
		for _, kv := range strings.Split(string(b), "\x00") {
			if v, ok := strings.CutPrefix(kv, "container="); ok {
				out = append(out, "pid 1 has container="+v)
			}
		}
	}
	return out
}

// containerFrom reports the markers of a container runtime under root and
// the size of devShm, which container runtimes set small.
// hostIPC says ipcplay shares the host's IPC namespace.
func containerFrom(root, devShm string, hostIPC bool) Check {
	c := Check{Name: "container", Status: Info}
	markers := containerMarkers(root)
	shmSize := ""
	var st unix.Statfs_t
	if err := unix.Statfs(devShm, &st); err == nil {
		shmSize = mib(st.Blocks * uint64(st.Bsize))
	}
	if len(markers) == 0 {
		c.Detail = "no container markers (/.dockerenv, /run/.containerenv, /run/systemd/container, /proc/1/cgroup, container= of pid 1)"
		return c
	}
	c.Detail = "container markers: " + strings.Join(markers, ", ")
	if shmSize != "" {
		c.Detail += "; /dev/shm is " + shmSize
	}
	if hostIPC {
		c.Detail += "; the IPC namespace is the host's (as with 'docker run --ipc=host')"
		c.Advice = "sharing the host's IPC namespace, ipcplay and the host see each other's System V objects and POSIX queues ('objects --all'); /dev/shm is shared only if the host's is mounted here"
		return c
	}
	c.Advice = "in a container /dev/shm is the runtime's own tmpfs (Docker's default is 64 MiB): 'docker run --shm-size=1g' enlarges it, " +
		"'--ipc=host' shares the host's IPC namespace and /dev/shm (then 'objects --all' sees the host's objects, and the host sees ipcplay's)"
	return c
}
