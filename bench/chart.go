package main

import (
	"fmt"
	"image/color"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var seriesColor = map[string]color.RGBA{
	"register":         {31, 119, 180, 255},
	"activate":         {255, 127, 14, 255},
	"me":               {44, 160, 44, 255},
	"argon2id ceiling": {110, 110, 110, 255},
	"p99 target":       {200, 40, 40, 255},
}

// series is one line of a panel.
type series struct {
	name   string
	dashed bool
	xs, ys []float64
}

// panel is one chart: y against concurrency, on a log scale.
type panel struct {
	title string
	lines []series
}

// writeChart draws throughput and p99 against concurrency, for the default and the cheapest
// hash, as a 2×2 PNG.
func writeChart(path string, r *report) error {
	ceil := r.Ceilings["default"].HashesPerSecond
	panels := []panel{
		chartPanel(r, "default", fmt.Sprintf("default hash: goodput (req/s), ceiling %.0f hashes/s", ceil), goodput),
		chartPanel(r, "default", "default hash: p99 (s), target 2 × conc. ÷ ceiling", p99Seconds),
		chartPanel(r, "cheap", "cheapest hash (database path): goodput (req/s)", goodput),
		chartPanel(r, "cheap", "cheapest hash (database path): p99 (ms)", func(res result) float64 { return res.LatencyMS.P99 }),
	}
	if xs := concurrencies(r); len(xs) > 0 && ceil > 0 {
		flat := series{name: "argon2id ceiling", dashed: true, xs: xs}
		target := series{name: "p99 target", dashed: true, xs: xs}
		for _, c := range xs {
			flat.ys = append(flat.ys, ceil)
			target.ys = append(target.ys, 2*c/ceil)
		}
		panels[0].lines = append(panels[0].lines, flat)
		panels[1].lines = append(panels[1].lines, target)
	}
	plots := [][]*plot.Plot{make([]*plot.Plot, 2), make([]*plot.Plot, 2)}
	for i, p := range panels {
		pl, err := p.plot()
		if err != nil {
			return err
		}
		plots[i/2][i%2] = pl
	}
	img := vgimg.New(2*7.5*vg.Inch, 2*4.8*vg.Inch)
	dc := draw.New(img)
	canvases := plot.Align(plots, draw.Tiles{Rows: 2, Cols: 2, PadX: 8 * vg.Millimeter, PadY: 8 * vg.Millimeter,
		PadTop: 4 * vg.Millimeter, PadRight: 6 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter}, dc)
	for row := range plots {
		for col, pl := range plots[row] {
			pl.Draw(canvases[row][col])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// plot turns the panel into a gonum plot with a log-scaled concurrency axis whose ticks are
// the concurrencies measured.
func (p panel) plot() (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = p.title
	pl.X.Label.Text = "concurrency"
	pl.Y.Min = 0
	pl.Legend.Top = true
	pl.Add(plotter.NewGrid())
	var ticks []plot.Tick
	seen := map[float64]bool{}
	for _, s := range p.lines {
		if len(s.xs) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(s.xs))
		for i := range s.xs {
			pts[i] = plotter.XY{X: s.xs[i], Y: s.ys[i]}
			if !seen[s.xs[i]] {
				seen[s.xs[i]] = true
				ticks = append(ticks, plot.Tick{Value: s.xs[i], Label: strconv.FormatFloat(s.xs[i], 'f', -1, 64)})
			}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		line.Color, points.Color = seriesColor[s.name], seriesColor[s.name]
		line.Width = vg.Points(1.5)
		points.Shape, points.Radius = draw.CircleGlyph{}, vg.Points(3)
		if s.dashed {
			line.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
			pl.Add(line)
		} else {
			pl.Add(line, points)
		}
		pl.Legend.Add(s.name, line)
	}
	if len(ticks) == 0 {
		return pl, nil
	}
	pl.X.Scale = plot.LogScale{}
	if len(ticks) == 1 {
		// A log axis needs a range: widen a single concurrency by half on either side.
		pl.X.Min, pl.X.Max = ticks[0].Value/1.5, ticks[0].Value*1.5
	}
	pl.X.Tick.Marker = plot.ConstantTicks(ticks)
	pl.Y.Max *= 1.15 // room for the legend above the highest point
	return pl, nil
}

func goodput(res result) float64    { return res.Goodput }
func p99Seconds(res result) float64 { return res.LatencyMS.P99 / 1000 }

func chartPanel(r *report, hash, title string, y func(result) float64) panel {
	p := panel{title: title}
	for _, scenario := range []string{"register", "activate", "me"} {
		s := series{name: scenario}
		for _, res := range r.Results {
			if res.Hash == hash && res.Scenario == scenario {
				s.xs, s.ys = append(s.xs, float64(res.Concurrency)), append(s.ys, y(res))
			}
		}
		p.lines = append(p.lines, s)
	}
	return p
}

func concurrencies(r *report) []float64 {
	var xs []float64
	for _, res := range r.Results {
		if res.Hash == "default" && res.Scenario == "register" {
			xs = append(xs, float64(res.Concurrency))
		}
	}
	return xs
}
