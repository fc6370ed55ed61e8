package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every file-writing flag (--html, --trace) creates its file 0600 and
// replaces a symlink at the name instead of following it, and leaves no
// temporary file behind. (--plot of bench goes through the same helper,
// ipc/outfile, once demos/bench/report uses it.)
func TestOutputFilesArePrivateAndNeverFollowLinks(t *testing.T) {
	dir := newStateDir(t)
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args func(path string) []string
	}{
		{"html", func(p string) []string { return []string{"demo", "crash", "--local", "--timeout", "50ms", "--html", p} }},
		{"trace", func(p string) []string {
			return []string{"race", "--local", "--socket", filepath.Join(dir, "d.sock"), "--mode", "unsafe", "--procs", "2", "--iters", "200", "--cpus", "none", "--trace", p}
		}},
	}
	for _, c := range cases {
		link := filepath.Join(dir, c.name+".out")
		if err := os.Symlink(victim, link); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, c.args(link)...)
		if r.code != 0 {
			t.Fatalf("--%s: exit %d\n%s\n%s", c.name, r.code, r.stdout, r.stderr)
		}
		st, err := os.Lstat(link)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode()&os.ModeSymlink != 0 || st.Mode().Perm() != 0o600 {
			t.Errorf("--%s: %s is %v, want a plain 0600 file in place of the link", c.name, link, st.Mode())
		}
		if b, _ := os.ReadFile(victim); string(b) != "precious" {
			t.Fatalf("--%s followed the symlink: the victim now holds %.40q", c.name, b)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), "tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
