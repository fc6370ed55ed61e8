package report

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/ipcplay/ipcplay/demos/bench"
	"github.com/ipcplay/ipcplay/ipc/outfile"
)

// PlotFormat returns "svg" or "png" from a file name's extension, or an
// error naming the allowed ones.
func PlotFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		return "svg", nil
	case ".png":
		return "png", nil
	}
	return "", fmt.Errorf("--plot %s: the file name must end in .svg or .png", path)
}

// WritePlot draws the results into the file path (SVG or PNG by its
// extension), replacing it (mode 0600): throughput (stream MB/s) and round-trip
// latency (pingpong p50, with the p99 as a dashed line) against the
// message size, one line per transport, log scales on both axes.
func WritePlot(path string, res *bench.Result) error {
	format, err := PlotFormat(path)
	if err != nil {
		return err
	}
	// outfile.Write: a 0600 file created O_EXCL|O_NOFOLLOW beside the
	// target, renamed over it, so a symlink at path is replaced, never
	// followed, as for every file ipcplay writes.
	if err := outfile.Write(path, func(w io.Writer) error { return Plot(w, format, res) }); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// Plot writes the chart of WritePlot to w in format "svg" or "png".
func Plot(w io.Writer, format string, res *bench.Result) error {
	var panels []*plot.Plot
	legend := plot.NewLegend()
	seen := map[string]bool{}
	addLegend := func(names []string) {
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			c, shape := style(n)
			legend.Add(n, thumb{c, shape})
		}
	}
	if p, names, err := panel(res, bench.Stream, "Throughput (stream)", "MB/s (log)", decadeTicks{label: fmtRate},
		func(r bench.Row) float64 { return r.MBPerS }, nil); err != nil {
		return err
	} else if p != nil {
		panels = append(panels, p)
		addLegend(names)
	}
	if p, names, err := panel(res, bench.PingPong, "Round-trip latency (pingpong)", "round trip: p50, dashed p99 (log)", decadeTicks{label: fmtNs},
		func(r bench.Row) float64 { return float64(r.Latency.P50) },
		func(r bench.Row) float64 { return float64(r.Latency.P99) }); err != nil {
		return err
	} else if p != nil {
		panels = append(panels, p)
		addLegend(names)
	}
	if len(panels) == 0 {
		return errors.New("nothing to plot: no results")
	}
	legendWidth := 4 * vg.Centimeter
	width := vg.Length(len(panels))*15*vg.Centimeter + legendWidth
	height := 12 * vg.Centimeter
	var canvas vg.CanvasWriterTo
	switch format {
	case "svg":
		canvas = vgsvg.New(width, height)
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(150))}
	default:
		return fmt.Errorf("unknown plot format %q (svg or png)", format)
	}
	dc := draw.New(canvas)
	pad := 4 * vg.Millimeter
	tile := (width - legendWidth) / vg.Length(len(panels))
	for i, p := range panels {
		c := dc
		c.Min.X, c.Max.X = vg.Length(i)*tile+pad, vg.Length(i+1)*tile-pad
		c.Min.Y, c.Max.Y = c.Min.Y+pad, c.Max.Y-pad
		p.Draw(c)
	}
	// One legend for both panels (a transport has the same color in each),
	// in a column of its own so that it hides no line.
	lc := dc
	lc.Min.X, lc.Max.Y = width-legendWidth, height-pad-vg.Centimeter
	legend.Top, legend.Left = true, true
	legend.Draw(lc)
	_, err := canvas.WriteTo(w)
	return err
}

// panel plots y (and, dashed, y2 when not nil) against the message size for
// every transport measured with pattern, and returns the transports drawn;
// nil when there is none.
func panel(res *bench.Result, pattern, title, ylabel string, yticks plot.Ticker, y, y2 func(bench.Row) float64) (p *plot.Plot, names []string, err error) {
	byT := map[string][]bench.Row{}
	var order []string
	for _, r := range res.Results {
		if r.Pattern != pattern {
			continue
		}
		if _, ok := byT[r.Label()]; !ok {
			order = append(order, r.Label())
		}
		byT[r.Label()] = append(byT[r.Label()], r)
	}
	if len(order) == 0 {
		return nil, nil, nil
	}
	p = plot.New()
	p.Title.Text = title
	p.X.Label.Text = "message size, bytes (log)"
	p.Y.Label.Text = ylabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = sizeTicks{}, yticks
	p.Add(plotter.NewGrid())
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, name := range order {
		rows := byT[name]
		sort.Slice(rows, func(a, b int) bool { return rows[a].Size < rows[b].Size })
		pts, pts2 := plotter.XYs{}, plotter.XYs{}
		for _, r := range rows {
			if v := y(r); v > 0 {
				pts = append(pts, plotter.XY{X: float64(r.Size), Y: v})
			}
			if y2 != nil {
				if v := y2(r); v > 0 {
					pts2 = append(pts2, plotter.XY{X: float64(r.Size), Y: v})
				}
			}
		}
		if len(pts) == 0 {
			continue
		}
		for _, q := range append(pts, pts2...) {
			xmin, xmax = math.Min(xmin, q.X), math.Max(xmax, q.X)
			ymin, ymax = math.Min(ymin, q.Y), math.Max(ymax, q.Y)
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, nil, err
		}
		color, shape := style(name)
		line.Color, points.Color = color, color
		points.Shape = shape
		line.Width = vg.Points(1.5)
		p.Add(line, points)
		names = append(names, name)
		if len(pts2) > 0 {
			l2, err := plotter.NewLine(pts2)
			if err != nil {
				return nil, nil, err
			}
			l2.Color = color
			l2.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
			l2.Width = vg.Points(1)
			p.Add(l2)
		}
	}
	if math.IsInf(xmin, 1) {
		return nil, nil, nil
	}
	// Log axes need a range: pad by half an octave on x, and widen y.
	p.X.Min, p.X.Max = xmin/1.5, xmax*1.5
	p.Y.Min, p.Y.Max = ymin/2, ymax*2
	return p, names, nil
}

// thumb draws a transport's line and point shape in the legend.
type thumb struct {
	color color.Color
	shape draw.GlyphDrawer
}

func (t thumb) Thumbnail(c *draw.Canvas) {
	y := (c.Min.Y + c.Max.Y) / 2
	c.StrokeLine2(draw.LineStyle{Color: t.color, Width: vg.Points(1.5)}, c.Min.X, y, c.Max.X, y)
	c.DrawGlyph(draw.GlyphStyle{Color: t.color, Radius: vg.Points(3), Shape: t.shape}, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: y})
}

// palette gives every transport its own color in every chart (Tableau's
// ten, then two more).
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff}, {0x00, 0x00, 0x00, 0xff}, {0xb8, 0x86, 0x0b, 0xff},
}

// style is a transport's color and point shape, fixed by its place in the
// list of transports.
func style(transport string) (color.Color, draw.GlyphDrawer) {
	name, _, _ := strings.Cut(transport, " ") // a label: "shm-adaptive spin=100"
	i := slices.Index(bench.TransportNames(), name)
	if i < 0 {
		i = len(palette) - 1
	}
	return palette[i%len(palette)], plotutil.Shape(i)
}

// sizeTicks marks powers of two on the size axis with binary units.
type sizeTicks struct{}

func (sizeTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log2(min)); e <= math.Ceil(math.Log2(max)); e++ {
		v := math.Exp2(e)
		if v < min || v > max {
			continue
		}
		t := plot.Tick{Value: v}
		if int(e)%2 == 0 || max/min < 64 {
			t.Label = bench.FormatSize(int(v))
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// decadeTicks marks a log axis at 1, 2, ... 9 times each power of ten
// within [min, max], and labels the powers of ten with label (a duration,
// a rate: "10µs", "1ms", "10k"), never in exponent notation; when fewer
// than two powers of ten fall within the range, 2x and 5x are labelled
// too, so that every axis has labels to read.
type decadeTicks struct {
	label func(float64) string
}

func (d decadeTicks) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= min {
		return nil
	}
	lo, hi := int(math.Floor(math.Log10(min))), int(math.Ceil(math.Log10(max)))
	decades := 0
	for e := lo; e <= hi; e++ {
		if v := math.Pow10(e); v >= min && v <= max {
			decades++
		}
	}
	var ticks []plot.Tick
	for e := lo; e <= hi; e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow10(e)
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (decades < 2 && (m == 2 || m == 5)) {
				t.Label = d.label(v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
