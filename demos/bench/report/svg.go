package report

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"

	"github.com/ipcplay/ipcplay/demos/bench"
)

// The charts of the web page and the --html report: hand-written SVG (a
// few rects, lines and texts), so that they are inline, scale with the
// page, take its light or dark colours (text uses the page's CSS) and need
// no font files. Colours are mid-tones readable on both backgrounds.
var svgPalette = []string{"#1a73e8", "#e8710a", "#12b5cb", "#d01884", "#7cb342", "#9334e6", "#f9ab00", "#e52592", "#00897b", "#5f6368", "#a142f4", "#c5221f"}

// percentiles drawn per transport, with their names.
var percentiles = []struct {
	name string
	get  func(bench.Latency) int64
}{
	{"p50", func(l bench.Latency) int64 { return l.P50 }},
	{"p90", func(l bench.Latency) int64 { return l.P90 }},
	{"p99", func(l bench.Latency) int64 { return l.P99 }},
	{"p99.9", func(l bench.Latency) int64 { return l.P999 }},
}

// LatencySVG draws, for each pattern and size, the latency percentiles
// (p50, p90, p99, p99.9) of every transport as horizontal bars on a log
// scale: one <svg> element per chart. floorNs, when > 0, is drawn as a
// dashed line (the machine's floor for a round trip, from the bench
// document's "floor", when present). Rows without a latency are left out.
func LatencySVG(res *bench.Result, floorNs int64) []string {
	var out []string
	for _, pattern := range patternsOf(res) {
		for _, size := range sizesOf(res) {
			var rows []bench.Row
			for _, r := range res.Results {
				if r.Pattern == pattern && r.Size == size && r.Latency.P50 > 0 {
					rows = append(rows, r)
				}
			}
			if len(rows) == 0 {
				continue
			}
			slices.SortStableFunc(rows, func(a, b bench.Row) int { return int(a.Latency.P50 - b.Latency.P50) })
			what := "round-trip latency"
			if pattern != bench.PingPong {
				what = "one-way latency (sampled)"
			}
			fl := int64(0)
			if pattern == bench.PingPong {
				fl = floorNs
			}
			label := "floor"
			if res.Floor != nil && res.Floor.Suspect {
				label = "floor (suspect)"
			}
			out = append(out, latencyChart(fmt.Sprintf("%s, %s, %s messages: p50 / p90 / p99 / p99.9", pattern, what, bench.FormatSize(size)), rows, fl, label, colorsOf(res)))
		}
	}
	return out
}

func latencyChart(title string, rows []bench.Row, floorNs int64, floorLabel string, colors map[string]string) string {
	const w, left, right, top, bar, gap = 1200.0, 190.0, 30.0, 70.0, 11.0, 14.0
	lo, hi := math.Inf(1), 0.0
	for _, r := range rows {
		for _, p := range percentiles {
			if v := float64(p.get(r.Latency)); v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if floorNs > 0 {
		lo, hi = math.Min(lo, float64(floorNs)), math.Max(hi, float64(floorNs))
	}
	d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if d1 <= d0 {
		d1 = d0 + 1
	}
	X := func(ns float64) float64 {
		return left + (math.Log10(math.Max(ns, 1))-d0)/(d1-d0)*(w-left-right)
	}
	rowH := float64(len(percentiles))*bar + gap
	h := top + float64(len(rows))*rowH + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" class="latency-chart" aria-label="%s">`, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="24" font-size="22" font-weight="700">%s</text>`, html.EscapeString(title))
	// Legend: the percentiles, darker for the median.
	for i, p := range percentiles {
		x := left + float64(i)*110
		fmt.Fprintf(&b, `<rect x="%.0f" y="38" width="18" height="14" fill="#5f6368" fill-opacity="%.2f"/><text x="%.0f" y="51" font-size="16">%s</text>`, x, opacity(i), x+24, p.name)
	}
	for d := d0; d <= d1; d++ {
		x := X(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" class="axis"/>`, x, top-6, x, h-34)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="16" text-anchor="middle" class="muted">%s</text>`, x, h-12, fmtNs(math.Pow(10, d)))
	}
	for i, r := range rows {
		y := top + float64(i)*rowH
		c := colors[r.Label()]
		fmt.Fprintf(&b, `<g class="bars" data-transport="%s"><text x="%.0f" y="%.1f" font-size="18" text-anchor="end">%s</text>`, html.EscapeString(r.Transport), left-10, y+2*bar+5, html.EscapeString(r.Label()))
		for j, p := range percentiles {
			v := float64(p.get(r.Latency))
			bw := math.Max(X(v)-left, 1)
			fmt.Fprintf(&b, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.0f" fill="%s" fill-opacity="%.2f"><title>%s %s: %s</title></rect>`,
				left, y+float64(j)*bar, bw, bar-1, c, opacity(j), html.EscapeString(r.Transport), p.name, fmtNs(v))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="15">%s</text></g>`, X(float64(r.Latency.P50))+6, y+bar-1, fmtNs(float64(r.Latency.P50)))
	}
	if floorNs > 0 {
		x := X(float64(floorNs))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#c5221f" stroke-width="2" stroke-dasharray="6 4"/><text x="%.1f" y="%.0f" font-size="15" fill="#c5221f">%s %s</text>`,
			x, top-6, x, h-34, x+4, top-10, floorLabel, fmtNs(float64(floorNs)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func opacity(i int) float64 { return 1 - 0.22*float64(i) }

// ThroughputSVG draws MB/s against message size, one line per transport,
// for each pattern (stream first: it is the throughput pattern), log
// scales. Nil when no row has a rate.
func ThroughputSVG(res *bench.Result) []string {
	var out []string
	pats := patternsOf(res)
	slices.SortStableFunc(pats, func(a, b string) int {
		if a == bench.Stream {
			return -1
		}
		if b == bench.Stream {
			return 1
		}
		return 0
	})
	for _, pattern := range pats {
		series := map[string][]bench.Row{}
		var names []string
		for _, r := range res.Results {
			if r.Pattern != pattern || r.MBPerS <= 0 {
				continue
			}
			if _, ok := series[r.Label()]; !ok {
				names = append(names, r.Label())
			}
			series[r.Label()] = append(series[r.Label()], r)
		}
		if len(names) == 0 {
			continue
		}
		out = append(out, throughputChart(fmt.Sprintf("%s: throughput (MB/s) by message size", pattern), names, series, sizesOf(res), colorsOf(res)))
	}
	return out
}

func throughputChart(title string, names []string, series map[string][]bench.Row, sizes []int, colors map[string]string) string {
	const w, h, left, right, top, bottom = 1200.0, 560.0, 110.0, 230.0, 50.0, 50.0
	lo, hi := math.Inf(1), 0.0
	for _, rows := range series {
		for _, r := range rows {
			lo, hi = math.Min(lo, r.MBPerS), math.Max(hi, r.MBPerS)
		}
	}
	y0, y1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if y1 <= y0 {
		y1 = y0 + 1
	}
	s0, s1 := math.Log2(float64(sizes[0])), math.Log2(float64(sizes[len(sizes)-1]))
	X := func(size int) float64 {
		if s1 == s0 {
			return (left + w - right) / 2
		}
		return left + (math.Log2(float64(size))-s0)/(s1-s0)*(w-left-right)
	}
	Y := func(v float64) float64 { return h - bottom - (math.Log10(v)-y0)/(y1-y0)*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" role="img" class="throughput-chart" aria-label="%s">`, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="24" font-size="22" font-weight="700">%s</text>`, html.EscapeString(title))
	for d := y0; d <= y1; d++ {
		y := Y(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" class="axis"/><text x="%.0f" y="%.1f" font-size="16" text-anchor="end" class="muted">%s</text>`,
			left, y, w-right, y, left-8, y+5, fmtRate(math.Pow(10, d)))
	}
	for _, sz := range sizes {
		x := X(sz)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" class="axis"/><text x="%.1f" y="%.0f" font-size="16" text-anchor="middle" class="muted">%s</text>`,
			x, top, x, h-bottom, x, h-bottom+22, bench.FormatSize(sz))
	}
	for i, n := range names {
		c := colors[n]
		rows := series[n]
		slices.SortFunc(rows, func(a, b bench.Row) int { return a.Size - b.Size })
		var pts []string
		for _, r := range rows {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", X(r.Size), Y(r.MBPerS)))
		}
		fmt.Fprintf(&b, `<g class="series" data-transport="%s"><polyline points="%s" fill="none" stroke="%s" stroke-width="3"/>`, html.EscapeString(n), strings.Join(pts, " "), c)
		for _, r := range rows {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="6" fill="%s"><title>%s %s: %.1f MB/s</title></circle>`, X(r.Size), Y(r.MBPerS), c, html.EscapeString(n), bench.FormatSize(r.Size), r.MBPerS)
		}
		ly := top + float64(i)*26
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="22" height="6" fill="%s"/><text x="%.0f" y="%.0f" font-size="17">%s</text></g>`, w-right+14, ly+6, c, w-right+42, ly+13, html.EscapeString(n))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// colorsOf gives each transport one colour in every chart of a result.
func colorsOf(res *bench.Result) map[string]string {
	out := map[string]string{}
	for _, r := range res.Results {
		if _, ok := out[r.Label()]; !ok {
			out[r.Label()] = svgPalette[len(out)%len(svgPalette)]
		}
	}
	return out
}

func patternsOf(res *bench.Result) []string {
	var out []string
	for _, r := range res.Results {
		if !slices.Contains(out, r.Pattern) {
			out = append(out, r.Pattern)
		}
	}
	return out
}

func sizesOf(res *bench.Result) []int {
	var out []int
	for _, r := range res.Results {
		if !slices.Contains(out, r.Size) {
			out = append(out, r.Size)
		}
	}
	slices.Sort(out)
	return out
}

// fmtNs is a duration in ns for an axis: 1ns, 10µs, 1.5ms.
func fmtNs(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0fns", ns)
	case ns < 1e6:
		return trimZero(fmt.Sprintf("%.1f", ns/1e3)) + "µs"
	case ns < 1e9:
		return trimZero(fmt.Sprintf("%.1f", ns/1e6)) + "ms"
	}
	return trimZero(fmt.Sprintf("%.2f", ns/1e9)) + "s"
}

// fmtRate is a rate for an axis: 0.01, 1, 100, 1000, 10k, 1M.
func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case v >= 1e4:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case v >= 1:
		return fmt.Sprintf("%.0f", v)
	}
	return trimZero(fmt.Sprintf("%.3f", v))
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
