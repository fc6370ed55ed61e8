package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/demos/bench"
)

func row(tr, pat string, size int, msgs float64, p50 int64, cpu float64) bench.Row {
	return bench.Row{
		Transport: tr, Pattern: pat, Size: size, Messages: int64(msgs), Bytes: int64(msgs) * int64(size),
		ElapsedNs: 1e9, MsgsPerS: msgs, MBPerS: msgs * float64(size) / 1e6,
		Latency:     bench.Latency{Min: p50 / 2, P50: p50, P90: p50 * 2, P99: p50 * 3, P999: p50 * 4, Max: p50 * 10, Mean: p50},
		CPUNsPerMsg: cpu, CtxSwitchesPerMsg: 2, Repeats: 1,
		Histogram: []bench.Bucket{{LeNs: p50 / 2, Count: 1}, {LeNs: p50, Count: 10}, {LeNs: p50 * 2, Count: 5}},
	}
}

func sample() *bench.Result {
	return &bench.Result{
		Kind:     "bench",
		Settings: bench.Settings{Transports: []string{"all"}, DurationNs: 5e8, WarmupNs: 1e8, Repeat: 1, NumCPU: 2},
		Results: []bench.Row{
			row("pipe", bench.PingPong, 64, 150e3, 6000, 7000),
			row("shm", bench.PingPong, 64, 170e3, 5000, 6000),
			row("tcp", bench.PingPong, 64, 60e3, 15000, 15000),
			row("pipe", bench.Stream, 4096, 200e3, 30000, 3000),
			row("shm", bench.Stream, 4096, 700e3, 5000, 1500),
			row("shm", bench.PingPong, 4096, 130e3, 5500, 7000),
		},
		Skipped: []bench.Skip{{Transport: "posix-mq", Pattern: "both", Size: 65536, Reason: "above fs.mqueue.msgsize_max"}},
		WallNs:  12e9,
	}
}

func TestTextSortsAndMarksTheBest(t *testing.T) {
	var b bytes.Buffer
	if err := Text(&b, sample(), Options{Sort: "auto"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	// Groups: pingpong 64 B, pingpong 4 KiB, stream 4 KiB, in that order.
	i64, i4k, is := strings.Index(out, "pingpong 64 B"), strings.Index(out, "pingpong 4 KiB"), strings.Index(out, "stream 4 KiB")
	if i64 < 0 || i4k < i64 || is < i4k {
		t.Fatalf("groups out of order:\n%s", out)
	}
	ping := out[i64:i4k]
	lines := strings.Split(strings.TrimSpace(ping), "\n")
	// header, column names, then shm (5µs) before pipe (6µs) before tcp.
	if len(lines) != 5 || !strings.HasPrefix(strings.TrimSpace(lines[2]), "* shm") || !strings.Contains(lines[2], "1.00x") ||
		!strings.HasPrefix(strings.TrimSpace(lines[3]), "pipe") || !strings.Contains(lines[3], "1.20x") || !strings.Contains(lines[4], "3.00x") {
		t.Errorf("pingpong 64 B table:\n%s", ping)
	}
	stream := out[is:]
	if !strings.Contains(stream, "megabytes per second") || !strings.Contains(stream, "* shm") || !strings.Contains(stream, "3.50x") {
		t.Errorf("stream table (by MB/s):\n%s", stream)
	}
	for _, want := range []string{"posix-mq both 64 KiB: above fs.mqueue.msgsize_max", "5.00µs", "170k", "cpu/msg"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	b.Reset()
	if err := Text(&b, sample(), Options{Sort: "cpu", Color: true, Histogram: true}); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	if !strings.Contains(out, "sorted by CPU time") || !strings.Contains(out, "\x1b[1m* shm") || !strings.Contains(out, "█") {
		t.Errorf("--sort cpu, colour, histogram:\n%s", out)
	}
}

func TestTextFlagsDamage(t *testing.T) {
	res := sample()
	res.Results[0].Lost, res.Results[0].Corrupt = 3, 1
	var b bytes.Buffer
	if err := Text(&b, res, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "LOST 3 CORRUPT 1") {
		t.Errorf("damage not shown:\n%s", b.String())
	}
}

func TestParseSort(t *testing.T) {
	for _, ok := range []string{"", "auto", "msgs", "mb", "p50", "p999", "cpu", "ctx"} {
		if _, err := ParseSort(ok); err != nil {
			t.Errorf("ParseSort(%q): %v", ok, err)
		}
	}
	if _, err := ParseSort("speed"); err == nil || !strings.Contains(err.Error(), "p50") {
		t.Errorf("ParseSort(speed): %v", err)
	}
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	res := sample()
	res.Results[1].LatencySamples = 80
	res.Results[1].Warnings = []bench.Warning{{Code: "few_samples"}, {Code: "scheduling_tail"}}
	if err := CSV(&b, res); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 || strings.Join(recs[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("CSV: %v", recs)
	}
	if r := recs[2]; r[0] != "shm" || r[1] != "pingpong" || r[2] != "64" || r[10] != "5000" ||
		r[len(r)-2] != "80" || r[len(r)-1] != "few_samples;scheduling_tail" || recs[1][len(r)-1] != "" {
		t.Errorf("row: %v", r)
	}
}

func TestPlotFiles(t *testing.T) {
	dir := t.TempDir()
	// A symlink where the plot goes is replaced, never followed.
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "b.svg")); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if b, err := os.ReadFile(victim); err != nil || string(b) != "keep" {
			t.Errorf("the symlink's target was written: %q %v", b, err)
		}
	}()
	for _, name := range []string{"b.svg", "b.png"} {
		path := filepath.Join(dir, name)
		if err := WritePlot(path, sample()); err != nil {
			t.Fatalf("WritePlot %s: %v", name, err)
		}
		if st, err := os.Lstat(path); err != nil || st.Mode() != 0o600 {
			t.Errorf("%s: mode %v (%v), want a regular file 0600, as every file ipcplay writes", name, st.Mode(), err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".png") {
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("%s is not a PNG: %v", name, err)
			}
			if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 500 {
				t.Errorf("%s is %v", name, b)
			}
		} else {
			data, _ := io.ReadAll(f)
			var doc struct {
				XMLName xml.Name
			}
			if err := xml.Unmarshal(data, &doc); err != nil || doc.XMLName.Local != "svg" {
				t.Errorf("%s is not SVG: %v %v", name, err, doc.XMLName)
			}
			for _, want := range []string{"Throughput", "Round-trip latency", "shm", "pipe", "tcp"} {
				if !bytes.Contains(data, []byte(want)) {
					t.Errorf("%s lacks %q", name, want)
				}
			}
		}
		f.Close()
	}
	if err := WritePlot(filepath.Join(dir, "b.pdf"), sample()); err == nil {
		t.Error("a .pdf plot was accepted")
	}
	if err := WritePlot(filepath.Join(dir, "e.svg"), &bench.Result{}); err == nil {
		t.Error("an empty result plotted")
	}
	// One pattern, one size: a single point per line still draws.
	one := &bench.Result{Results: []bench.Row{row("shm", bench.PingPong, 64, 1e5, 5000, 1)}}
	if err := WritePlot(filepath.Join(dir, "one.svg"), one); err != nil {
		t.Errorf("single point: %v", err)
	}
}

func TestHistogramBars(t *testing.T) {
	var b bytes.Buffer
	Histogram(&b, sample().Results[0])
	out := b.String()
	if !strings.Contains(out, "16 samples") || !strings.Contains(out, "100.00%") || strings.Count(out, "\n") != 4 {
		t.Errorf("histogram:\n%s", out)
	}
}
