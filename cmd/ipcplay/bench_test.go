package main

import (
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/mq"
)

// benchDoc is `ipcplay bench --json` as DESIGN.md specifies it.
type benchDoc struct {
	Kind    string `json:"kind"`
	Engine  string `json:"engine"`
	RunID   string `json:"run_id"`
	Results []struct {
		Transport string  `json:"transport"`
		Pattern   string  `json:"pattern"`
		Size      int     `json:"size"`
		Messages  int64   `json:"messages"`
		Bytes     int64   `json:"bytes"`
		ElapsedNs int64   `json:"elapsed_ns"`
		MsgsPerS  float64 `json:"msgs_per_sec"`
		MBPerS    float64 `json:"mb_per_sec"`
		Latency   struct {
			Min, P50, P90, P99, P999, Max, Mean int64
		} `json:"latency_ns"`
		CPUNsPerMsg       float64 `json:"cpu_ns_per_msg"`
		CtxSwitchesPerMsg float64 `json:"ctx_switches_per_msg"`
		Lost              int64   `json:"lost"`
		Corrupt           int64   `json:"corrupt"`
		Reordered         int64   `json:"reordered"`
		XFloor            float64 `json:"x_floor"`
		LatencySamples    int64   `json:"latency_samples"`
		Warnings          *[]struct {
			Code, Text string
		} `json:"warnings"`
	} `json:"results"`
	Floor *struct {
		CPUs       []int   `json:"cpus"`
		C2CRttNs   int64   `json:"c2c_rtt_ns"`
		MemcpyGBps float64 `json:"memcpy_gbps"`
		RoundsNs   []int64 `json:"rounds_ns"`
		Suspect    *bool   `json:"suspect"`
	} `json:"floor"`
	Warnings *[]struct {
		Code, Row, Text string
	} `json:"warnings"`
	Skipped []struct {
		Transport, Pattern, Reason string
	} `json:"skipped"`
}

func TestBenchJSON(t *testing.T) {
	dir := newStateDir(t)
	r := runCLI(t, "bench", "--local", "--json", "--socket", filepath.Join(dir, "d.sock"),
		"--transport", "shm,pipe,eventfd", "--size", "64,1K", "--count", "200", "--warmup", "0")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var doc benchDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, r.stdout)
	}
	// shm and pipe: 2 sizes x 2 patterns; eventfd: one pingpong row.
	if doc.Kind != "bench" || doc.Engine != "local" || !strings.HasPrefix(doc.RunID, "r-") || len(doc.Results) != 9 {
		t.Fatalf("document: %+v", doc)
	}
	for _, x := range doc.Results {
		if x.Messages != 200 || x.Bytes != 200*int64(x.Size) || x.ElapsedNs <= 0 || x.MsgsPerS <= 0 || x.MBPerS <= 0 ||
			x.Latency.P50 <= 0 || x.Latency.Max < x.Latency.P99 || x.CPUNsPerMsg <= 0 || x.Lost+x.Corrupt+x.Reordered != 0 || x.XFloor <= 0 ||
			x.Warnings == nil || x.LatencySamples <= 0 {
			t.Errorf("row %+v", x)
		}
	}
	// The judgement is there, whatever it says about this run's numbers.
	if f := doc.Floor; f == nil || len(f.CPUs) != 2 || f.C2CRttNs <= 0 || f.MemcpyGBps <= 0 || len(f.RoundsNs) != 10 ||
		slices.Min(f.RoundsNs) != f.C2CRttNs || f.Suspect == nil || doc.Warnings == nil {
		t.Errorf("floor: %+v, warnings %v", doc.Floor, doc.Warnings)
	}
	if len(doc.Skipped) != 1 || doc.Skipped[0].Transport != "eventfd" {
		t.Errorf("skipped: %+v", doc.Skipped)
	}
	noRunLeftovers(t, dir, doc.RunID)
}

func TestBenchTextCSVAndPlot(t *testing.T) {
	dir := newStateDir(t)
	socket := filepath.Join(dir, "d.sock")
	svg := filepath.Join(dir, "b.svg")
	r := runCLI(t, "bench", "--local", "--socket", socket, "-t", "unix-stream,tcp", "-s", "64", "-n", "100", "--warmup", "0",
		"--repeat", "3", "--histogram", "--sort", "p99", "--plot", svg)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"pingpong 64 B", "stream 64 B", "sorted by 99th percentile latency", "* ", "vs best", "spread", "unix-stream", "tcp", "█", "plot: " + svg} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}
	data, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	var root struct{ XMLName xml.Name }
	if err := xml.Unmarshal(data, &root); err != nil || root.XMLName.Local != "svg" {
		t.Errorf("%s is not an SVG: %v", svg, err)
	}

	r = runCLI(t, "bench", "--local", "--socket", socket, "-t", "pipe", "-p", "stream", "-s", "64,4K", "-n", "100", "--warmup", "0", "--csv")
	if r.code != 0 {
		t.Fatalf("--csv: exit %d\nstderr: %s", r.code, r.stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil || len(recs) != 3 || recs[0][0] != "transport" || recs[1][0] != "pipe" || recs[2][2] != "4096" {
		t.Errorf("CSV: %v %v\n%s", err, recs, r.stdout)
	}

	// --json with --plot: the document alone on stdout, the chart in its file.
	pngPath := filepath.Join(dir, "b.png")
	r = runCLI(t, "bench", "--local", "--json", "--socket", socket, "-t", "shm", "-s", "64", "-n", "100", "--warmup", "0", "--plot", pngPath)
	if r.code != 0 {
		t.Fatalf("--json --plot: exit %d\nstderr: %s", r.code, r.stderr)
	}
	var doc benchDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Kind != "bench" {
		t.Errorf("stdout: %v\n%s", err, r.stdout)
	}
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s is not a PNG: %v", pngPath, err)
	}
}

func TestBenchDamageExits1(t *testing.T) {
	dir := newStateDir(t)
	r := runCLI(t, "bench", "--local", "--socket", filepath.Join(dir, "d.sock"), "-t", "pipe", "-s", "128", "-n", "300", "--warmup", "0", "--fault", "corrupt")
	if r.code != 1 || !strings.Contains(r.stdout, "CORRUPT") || !strings.Contains(r.stderr, "damaged in transit") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestBenchBadInputExits2(t *testing.T) {
	dir := newStateDir(t)
	socket := filepath.Join(dir, "d.sock")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--transport", "smoke-signals"}, "--transport"},
		{[]string{"--transport", ""}, "--transport"},
		{[]string{"--pattern", "fanout"}, "--pattern"},
		{[]string{"--size", "0"}, "--size"},
		{[]string{"--size", "12"}, "--size"},
		{[]string{"--size", "4X"}, "--size"},
		{[]string{"--size", "65M"}, "--size"},
		{[]string{"-t", "sysv-msgq", "--size", "1M"}, "kernel.msgmax"},
		{[]string{"-t", "posix-mq", "--size", "1M"}, "msgsize_max"},
		{[]string{"-t", "unix-dgram", "--size", "64M"}, "wmem_max"},
		{[]string{"-t", "eventfd", "-p", "stream"}, "eventfd"},
		{[]string{"--duration", "0s"}, "--duration"},
		{[]string{"--duration", "2h"}, "--duration"},
		{[]string{"--duration", "1s", "--count", "5"}, "--count"},
		{[]string{"--count", "0"}, "--count"},
		{[]string{"--warmup", "-1s"}, "--warmup"},
		{[]string{"--repeat", "0"}, "--repeat"},
		{[]string{"--cpus", "0"}, "--cpus"},
		{[]string{"--cpus", "0,x"}, "--cpus"},
		{[]string{"--cpus", "0,999"}, "--cpus"},
		{[]string{"--sort", "fastest"}, "--sort"},
		{[]string{"--plot", "b.pdf"}, "--plot"},
		{[]string{"--plot", "/no/such/dir/b.svg"}, "--plot"},
		{[]string{"--csv", "--json"}, "--csv"},
		{[]string{"--duration", "1h"}, "above the run timeout of 10m0s (the embedded engine's (--local) run-timeout; raise it in the environment, e.g. IPCPLAY_RUN_TIMEOUT=1h"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"-t", "shm", "--spin", "100"}, "--spin"},
		{[]string{"-t", "shm-adaptive", "--spin", "1,x"}, "--spin"},
		{[]string{"-t", "shm-adaptive", "--spin", "-5"}, "--spin"},
		{[]string{"--rate", "0"}, "--rate 0: must be between 1 and 10000000 messages per second (leave --rate out for a closed loop)"},
		{[]string{"--rate", "0.5"}, "--rate 0.5: must be between 1 and 10000000 messages per second (leave --rate out for a closed loop)"},
		{[]string{"--rate", "1e8"}, "--rate 100000000: must be between 1 and 10000000 messages per second (leave --rate out for a closed loop)"},
		{[]string{"--rate", "NaN"}, "--rate NaN: must be between 1 and 10000000"},
		{[]string{"--rate", "Inf"}, "--rate +Inf: must be between 1 and 10000000"},
		{[]string{"--load", "disk"}, "--load"},
		{[]string{"--load", "cpu:0"}, "--load"},
	} {
		args := append([]string{"bench", "--local", "--socket", socket}, tc.args...)
		r := runCLI(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.HasPrefix(r.stderr, "ipcplay: ") || !badInputStdout(args, r.stdout) {
			t.Errorf("%v: exit %d, stderr %q, stdout %q: want exit 2 naming %s", tc.args, r.code, r.stderr, r.stdout, tc.want)
		}
	}
	noRunLeftovers(t, dir)
}

// TestBenchInterruptLeavesNothing: Ctrl-C in the middle of a cell ends the
// CLI within seconds and every object of the run is gone.
func TestBenchInterruptLeavesNothing(t *testing.T) {
	dir := newStateDir(t)
	cmd := cliCmd(t, "bench", "--local", "--socket", filepath.Join(dir, "d.sock"), "-t", "sysv-msgq,posix-mq,fifo,shm",
		"-p", "pingpong", "-s", "64", "-d", "20s", "--warmup", "0")
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done, err := startLocked(cmd)
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the first cell's queue is in the ledger, and its workers run.
	var seen []ledger.Entry
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("no queue appeared in the ledger\nstderr: %s", errb.String())
		}
		for _, e := range ledgerEntries(t, dir) {
			if e.Type == ledger.SysVMsg {
				seen = append(seen, e)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("the CLI did not exit after SIGINT")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("exit took %s after SIGINT", d)
	}
	if wantEndedBy(t, cmd.ProcessState, syscall.SIGINT); !strings.Contains(errb.String(), "cancelled") {
		t.Errorf("stderr %q: want 'cancelled'", errb.String())
	}
	assertClean(t, dir, seen)
	for _, e := range seen {
		if e.Type == ledger.POSIXMQ {
			if _, err := mq.OpenPOSIX(e.Name); !errors.Is(err, mq.ErrNotFound) {
				t.Errorf("queue %s still exists", e.Name)
			}
		}
	}
}

func TestBenchThroughDaemon(t *testing.T) {
	d := startDaemon(t, newStateDir(t))
	r := runCLI(t, "bench", "--require-daemon", "--json", "--socket", d.socket, "-t", "unix-seqpacket,sysv-msgq", "-s", "256", "-n", "100", "--warmup", "0")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	var doc benchDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Engine != "daemon" || len(doc.Results) != 4 {
		t.Fatalf("document: %v %+v", err, doc)
	}
	assertClean(t, d.dir, nil)
}
