package report

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/ipcplay/ipcplay/demos/bench"
)

// The page's charts: one latency chart per pattern and size that has
// latencies, a bar group per transport; one throughput chart per pattern;
// well-formed SVG; a transport keeps its colour across charts; names
// escaped; the floor drawn only when given.
func TestSVGCharts(t *testing.T) {
	res := sample()
	res.Results = append(res.Results, row(`a<b&"c`, bench.PingPong, 64, 1e3, 9000, 1))
	lat := LatencySVG(res, 0)
	// pingpong 64, pingpong 4096, stream 4096 (stream 64 has no rows).
	if len(lat) != 3 {
		t.Fatalf("%d latency charts, want 3", len(lat))
	}
	if n := strings.Count(lat[0], `<g class="bars"`); n != 4 {
		t.Errorf("pingpong 64: %d transports, want 4", n)
	}
	if strings.Contains(lat[0], "floor") {
		t.Error("a floor line without a floor")
	}
	if !strings.Contains(LatencySVG(res, 2000)[0], "floor 2µs") {
		t.Error("no floor line with a floor")
	}
	res.Floor = &bench.Floor{C2CRttNs: 2000, Suspect: true}
	if !strings.Contains(LatencySVG(res, 2000)[0], "floor (suspect) 2µs") {
		t.Error("a suspect floor drawn as trusted")
	}
	res.Floor = nil
	thr := ThroughputSVG(res)
	if len(thr) != 2 || !strings.HasPrefix(strings.SplitN(thr[0], "aria-label=\"", 2)[1], "stream") {
		t.Fatalf("throughput charts: %d, want 2 with stream first", len(thr))
	}
	for _, s := range append(lat, thr...) {
		if err := xml.Unmarshal([]byte(s), new(struct{})); err != nil {
			t.Fatalf("not well-formed SVG: %v\n%.300s", err, s)
		}
		if strings.Contains(s, `a<b`) {
			t.Fatal("a transport name is not escaped")
		}
	}
	c := colorsOf(res)
	if !strings.Contains(lat[0], c["shm"]) || !strings.Contains(thr[0], `data-transport="shm"><polyline points="`) || !strings.Contains(thr[0], `stroke="`+c["shm"]) {
		t.Error("shm does not keep its colour across charts")
	}
}
