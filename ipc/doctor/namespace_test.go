package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIPCNamespaceCheck(t *testing.T) {
	self, err := os.Readlink("/proc/self/ns/ipc")
	if err != nil {
		t.Skipf("no /proc/self/ns/ipc: %v", err)
	}
	c := ipcNamespaceFrom("/proc")
	t.Logf("%s: %s", c.Name, c.Detail)
	if !strings.Contains(c.Detail, self) || c.Status != Info {
		t.Errorf("detail %q (status %s) does not name our namespace %s", c.Detail, c.Status, self)
	}
	// A fake /proc: pid 1 in another namespace.
	dir := t.TempDir()
	for pid, ns := range map[string]string{"self": "ipc:[4026532999]", "1": initIPCNS} {
		os.MkdirAll(filepath.Join(dir, pid, "ns"), 0o700)
		if err := os.Symlink(ns, filepath.Join(dir, pid, "ns", "ipc")); err != nil {
			t.Fatal(err)
		}
	}
	c = ipcNamespaceFrom(dir)
	if !strings.HasPrefix(c.Detail, "not the host's") || !strings.Contains(c.Advice, "objects --all") {
		t.Errorf("another namespace: %+v", c)
	}
	// pid 1 unreadable: the fixed inode of the initial namespace decides.
	os.Remove(filepath.Join(dir, "1", "ns", "ipc"))
	if c = ipcNamespaceFrom(dir); !strings.HasPrefix(c.Detail, "not the host's") {
		t.Errorf("pid 1 unreadable, self not initial: %+v", c)
	}
	os.Remove(filepath.Join(dir, "self", "ns", "ipc"))
	os.Symlink(initIPCNS, filepath.Join(dir, "self", "ns", "ipc"))
	if c = ipcNamespaceFrom(dir); !strings.HasPrefix(c.Detail, "the host's") || c.Advice != "" {
		t.Errorf("pid 1 unreadable, self initial: %+v", c)
	}
}

func TestContainerMarkers(t *testing.T) {
	dir := t.TempDir()
	if m := containerMarkers(dir); len(m) != 0 {
		t.Errorf("empty root: markers %v", m)
	}
	if c := containerFrom(dir, "/dev/shm", false); c.Advice != "" || !strings.HasPrefix(c.Detail, "no container") {
		t.Errorf("no markers: %+v", c)
	}
	os.MkdirAll(filepath.Join(dir, "run"), 0o700)
	os.MkdirAll(filepath.Join(dir, "proc", "1"), 0o700)
	os.WriteFile(filepath.Join(dir, ".dockerenv"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "run", ".containerenv"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "proc", "1", "cgroup"), []byte("0::/kubepods/besteffort/pod1234\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "proc", "1", "environ"), []byte("PATH=/bin\x00container=podman\x00"), 0o600)
	m := strings.Join(containerMarkers(dir), "; ")
	for _, want := range []string{"/.dockerenv", "/run/.containerenv", "kubepods", "container=podman"} {
		if !strings.Contains(m, want) {
			t.Errorf("markers %q lack %q", m, want)
		}
	}
	c := containerFrom(dir, "/dev/shm", false)
	if !strings.Contains(c.Detail, "/dev/shm is") || !strings.Contains(c.Advice, "--shm-size") || !strings.Contains(c.Advice, "--ipc=host") {
		t.Errorf("markers: %+v", c)
	}
	if c := containerFrom(dir, "/dev/shm", true); !strings.Contains(c.Detail, "host's") {
		t.Errorf("markers, host IPC namespace: %+v", c)
	}
	t.Logf("this machine: %+v", namespaceChecks())
}
