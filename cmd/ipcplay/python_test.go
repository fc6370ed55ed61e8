package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/ipc/python/pythontest"
)

func TestRacePythonBadInputExits2(t *testing.T) {
	dir := newStateDir(t)
	socket := filepath.Join(dir, "d.sock")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--lang", "ruby"}, []string{"--lang", "go, python or go,python"}},
		{[]string{"--lang", "python,go"}, []string{`--lang "python,go"`, "go, python or go,python", "in this order"}},
		{[]string{"--lang", "python", "--python", filepath.Join(dir, "no-python3")}, []string{"--python", "apt-get install python3"}},
		{[]string{"--lang", "go", "--switch-interval", "1ms"}, []string{"--switch-interval"}},
		{[]string{"--lang", "python", "--switch-interval", "0s"}, []string{"--switch-interval"}},
	} {
		args := append([]string{"race", "--local", "--socket", socket}, tc.args...)
		r := runCLI(t, args...)
		ok := r.code == 2 && strings.HasPrefix(r.stderr, "ipcplay: ") && r.stdout == ""
		for _, w := range tc.want {
			ok = ok && strings.Contains(r.stderr, w)
		}
		if !ok {
			t.Errorf("%v: exit %d, stderr %q, stdout %q: want exit 2 naming %v", tc.args, r.code, r.stderr, r.stdout, tc.want)
		}
	}
	r := runCLI(t, "demo", "gil", "--local", "--socket", socket, "--python", filepath.Join(dir, "no-python3"))
	if r.code != 2 || !strings.Contains(r.stderr, "apt-get install python3") {
		t.Errorf("demo gil --python missing: exit %d, stderr %q", r.code, r.stderr)
	}
	noRunLeftovers(t, dir)
}

func TestRacePythonJSON(t *testing.T) {
	in := pythontest.Require(t)
	dir := newStateDir(t)
	r := runCLI(t, "race", "--local", "--socket", filepath.Join(dir, "d.sock"), "--json",
		"--lang", "go,python", "--mode", "posix-sem,sysv-sem", "--procs", "2", "--iters", "2000")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		Kind    string `json:"kind"`
		Results []struct {
			Mode          string `json:"mode"`
			Lang          string `json:"lang"`
			Lost          int64  `json:"lost"`
			PythonVersion string `json:"python_version"`
			GILEnabled    *bool  `json:"gil_enabled"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if doc.Kind != "race" || len(doc.Results) != 2 {
		t.Fatalf("document %+v", doc)
	}
	for _, m := range doc.Results {
		if m.Lang != "go,python" || m.Lost != 0 || m.PythonVersion != in.Version || m.GILEnabled == nil {
			t.Errorf("%+v", m)
		}
	}
	noRunLeftovers(t, dir)
}
