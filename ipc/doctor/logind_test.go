package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeConf writes files under root: path relative to root -> contents.
func writeConf(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The two inputs, and the rest of logind.conf(5).
func TestReadRemoveIPCAsLogindDoes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		want   bool
		source string
	}{
		{"the issue: RemoveIPC=no in a /run drop-in",
			map[string]string{"run/systemd/logind.conf.d/60-x.conf": "[Login]\nRemoveIPC=no\n"}, false, "run/systemd/logind.conf.d/60-x.conf line 2"},
		{"the issue: RemoveIPC=true in an /etc drop-in",
			map[string]string{"etc/systemd/logind.conf": "[Login]\nRemoveIPC=no\n", "etc/systemd/logind.conf.d/x.conf": "[Login]\nRemoveIPC=true\n"}, true, "etc/systemd/logind.conf.d/x.conf line 2"},
		{"nothing set: the compiled-in default", map[string]string{"etc/systemd/logind.conf": "[Login]\n#RemoveIPC=no\n"}, true, "compiled-in default"},
		{"drop-ins sorted by name across directories: the last wins",
			map[string]string{
				"usr/lib/systemd/logind.conf.d/90-z.conf":       "[Login]\nRemoveIPC=off\n",
				"etc/systemd/logind.conf.d/10-a.conf":           "[Login]\nRemoveIPC=on\n",
				"usr/local/lib/systemd/logind.conf.d/50-m.conf": "[Login]\nRemoveIPC=y\n",
			}, false, "usr/lib/systemd/logind.conf.d/90-z.conf line 2"},
		{"a drop-in name in /etc overrides the same name in /usr/lib",
			map[string]string{
				"usr/lib/systemd/logind.conf.d/50-x.conf": "[Login]\nRemoveIPC=yes\n",
				"etc/systemd/logind.conf.d/50-x.conf":     "[Login]\n",
			}, true, "compiled-in default"},
		{"the main file from /usr/lib when /etc has none",
			map[string]string{"usr/lib/systemd/logind.conf": "[Login]\nRemoveIPC=0\n"}, false, "usr/lib/systemd/logind.conf line 2"},
		{"a key outside [Login] does not count",
			map[string]string{"etc/systemd/logind.conf": "[Other]\nRemoveIPC=no\n"}, true, "compiled-in default"},
		{"an invalid value is ignored", map[string]string{"etc/systemd/logind.conf": "[Login]\nRemoveIPC=F\nRemoveIPC=maybe\n"}, false, "line 2"},
		{"a continued line", map[string]string{"etc/systemd/logind.conf": "[Login]\nRemoveIPC=\\\nno\n"}, false, "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			writeConf(t, root, tc.files)
			got := readRemoveIPC(root)
			if got.Value != tc.want || !strings.Contains(got.Source, tc.source) {
				t.Errorf("got %v from %q (notes %q), want %v from %q", got.Value, got.Source, got.Notes, tc.want, tc.source)
			}
		})
	}
	// A drop-in masked by a symlink to /dev/null.
	root := t.TempDir()
	writeConf(t, root, map[string]string{"usr/lib/systemd/logind.conf.d/50-x.conf": "[Login]\nRemoveIPC=no\n"})
	os.MkdirAll(filepath.Join(root, "etc/systemd/logind.conf.d"), 0o755)
	if err := os.Symlink("/dev/null", filepath.Join(root, "etc/systemd/logind.conf.d/50-x.conf")); err != nil {
		t.Fatal(err)
	}
	if got := readRemoveIPC(root); !got.Value {
		t.Errorf("masked drop-in still read: %+v", got)
	}
	if got := readRemoveIPC(t.TempDir() + "/x"); !got.Value || len(got.Notes) != 0 {
		t.Errorf("no files: %+v", got)
	}
}

func TestParseSystemdBool(t *testing.T) {
	for _, s := range []string{"1", "yes", "y", "true", "t", "on", "YES", "True", "On"} {
		if v, err := parseSystemdBool(s); err != nil || !v {
			t.Errorf("%q: %v %v", s, v, err)
		}
	}
	for _, s := range []string{"0", "no", "n", "false", "f", "off", "NO", "Off"} {
		if v, err := parseSystemdBool(s); err != nil || v {
			t.Errorf("%q: %v %v", s, v, err)
		}
	}
	for _, s := range []string{"", "2", "yess", "enabled"} {
		if _, err := parseSystemdBool(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// The report says which source answered: logind itself, or the files.
func TestRemoveIPCReportSaysWhichSourceAnswered(t *testing.T) {
	conf := removeIPCConf{Value: false, Source: "/run/systemd/logind.conf.d/60-x.conf line 2"}
	asked := func(v bool) func(context.Context) (bool, bool, error) {
		return func(context.Context) (bool, bool, error) { return v, true, nil }
	}
	noBus := func(context.Context) (bool, bool, error) { return false, false, errors.New("no bus") }
	c := removeIPCReport(conf, true, asked(true), 1000)[0]
	if c.Status != Warn || !strings.Contains(c.Detail, "RemoveIPC=yes (asked systemd-logind") || !strings.Contains(c.Detail, "has not reloaded") {
		t.Errorf("logind answered: %+v", c)
	}
	c = removeIPCReport(conf, true, noBus, 1000)[0]
	if c.Status != Info || !strings.Contains(c.Detail, "RemoveIPC=no (the files say RemoveIPC=no (/run/systemd/logind.conf.d/60-x.conf line 2))") {
		t.Errorf("files answered: %+v", c)
	}
	// No file sets it: the sentence says so, not "the files say yes".
	def := removeIPCConf{Value: true, Source: compiledInDefault}
	for _, systemd := range []bool{false, true} {
		c = removeIPCReport(def, systemd, noBus, 0)[0]
		if !strings.Contains(c.Detail, "no file sets RemoveIPC; logind's compiled-in default is yes") || strings.Contains(c.Detail, "files say") || strings.Contains(c.Detail, "from the configuration files") {
			t.Errorf("compiled-in default, systemd %v: %+v", systemd, c)
		}
	}
	c = removeIPCReport(removeIPCConf{Value: true, Source: "x"}, false, noBus, 1000)[0]
	if c.Status != Info || !strings.Contains(c.Detail, "systemd is not running") {
		t.Errorf("no systemd: %+v", c)
	}
	for in, want := range map[string]bool{"b true\n": true, "b false\n": false} {
		if v, ok, err := parseBusctlBool(in); !ok || err != nil || v != want {
			t.Errorf("busctl %q: %v %v %v", in, v, ok, err)
		}
	}
	if _, ok, err := parseBusctlBool("s \"yes\""); ok || err == nil {
		t.Error("busctl non-boolean accepted")
	}
}
