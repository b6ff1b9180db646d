package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strconv"
)

var (
	white     = color.RGBA{255, 255, 255, 255}
	black     = color.RGBA{30, 30, 30, 255}
	grey      = color.RGBA{200, 200, 200, 255}
	darkGrey  = color.RGBA{110, 110, 110, 255}
	red       = color.RGBA{200, 40, 40, 255}
	seriesRGB = map[string]color.RGBA{
		"register": {31, 119, 180, 255},
		"activate": {255, 127, 14, 255},
		"me":       {44, 160, 44, 255},
	}
)

const (
	panelW, panelH = 720, 460
	marginL        = 90
	marginR        = 24
	marginT        = 60
	marginB        = 64
)

// series is one line of a panel.
type series struct {
	name   string
	color  color.RGBA
	dashed bool
	xs, ys []float64
}

// panel is one chart: y against concurrency, on a log scale.
type panel struct {
	title string
	lines []series
}

// writeChart draws throughput and p99 against concurrency, for the default and the cheapest
// hash, as a 2×2 PNG: standard library only, with the bitmap font of font.go.
func writeChart(path string, r *report) error {
	img := image.NewRGBA(image.Rect(0, 0, 2*panelW, 2*panelH))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	ceil := r.Ceilings["default"].HashesPerSecond
	panels := []panel{
		chartPanel(r, "default", fmt.Sprintf("default hash: goodput (req/s), ceiling %.0f hashes/s", ceil), goodput),
		chartPanel(r, "default", "default hash: p99 (s), target 2 × conc. ÷ ceiling", p99Seconds),
		chartPanel(r, "cheap", "cheapest hash (database path): goodput (req/s)", goodput),
		chartPanel(r, "cheap", "cheapest hash (database path): p99 (ms)", func(res result) float64 { return res.LatencyMS.P99 }),
	}
	if xs := concurrencies(r); len(xs) > 0 && ceil > 0 {
		flat := series{name: "argon2id ceiling", color: darkGrey, dashed: true, xs: xs}
		target := series{name: "p99 target", color: red, dashed: true, xs: xs}
		for _, c := range xs {
			flat.ys = append(flat.ys, ceil)
			target.ys = append(target.ys, 2*c/ceil)
		}
		panels[0].lines = append(panels[0].lines, flat)
		panels[1].lines = append(panels[1].lines, target)
	}
	for i, p := range panels {
		p.draw(img, (i%2)*panelW, (i/2)*panelH)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func goodput(res result) float64    { return res.Goodput }
func p99Seconds(res result) float64 { return res.LatencyMS.P99 / 1000 }

func chartPanel(r *report, hash, title string, y func(result) float64) panel {
	p := panel{title: title}
	for _, scenario := range []string{"register", "activate", "me"} {
		s := series{name: scenario, color: seriesRGB[scenario]}
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

func (p panel) draw(img *image.RGBA, ox, oy int) {
	x0, y0 := ox+marginL, oy+panelH-marginB // plot origin, bottom left
	w, h := panelW-marginL-marginR, panelH-marginT-marginB
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range p.lines {
		for i := range s.xs {
			xmin, xmax, ymax = min(xmin, s.xs[i]), max(xmax, s.xs[i]), max(ymax, s.ys[i])
		}
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax = 1, 2
	}
	lx0, lx1 := math.Log2(xmin)-0.5, math.Log2(xmax)+0.5
	ytop, ystep := niceScale(ymax * 1.1)
	px := func(x float64) int { return x0 + int(float64(w)*(math.Log2(x)-lx0)/(lx1-lx0)) }
	py := func(y float64) int { return y0 - int(float64(h)*y/ytop) }

	drawText(img, ox+marginL, oy+16, p.title, black)
	decimals := max(0, int(-math.Floor(math.Log10(ystep))))
	for i := 0; float64(i)*ystep <= ytop+ystep/2; i++ {
		y := float64(i) * ystep
		line(img, x0, py(y), x0+w, py(y), grey, false)
		label := strconv.FormatFloat(y, 'f', decimals, 64)
		drawText(img, x0-10-textWidth(label), py(y)-7, label, black)
	}
	line(img, x0, y0, x0+w, y0, black, false)
	line(img, x0, y0, x0, y0-h, black, false)
	ticks := map[float64]bool{}
	for _, s := range p.lines {
		for _, x := range s.xs {
			ticks[x] = true
		}
	}
	for x := range ticks {
		label := strconv.FormatFloat(x, 'f', -1, 64)
		line(img, px(x), y0, px(x), y0+6, black, false)
		drawText(img, px(x)-textWidth(label)/2, y0+12, label, black)
	}
	drawText(img, x0+w/2-textWidth("concurrency")/2, y0+36, "concurrency", darkGrey)
	legendY := oy + marginT - 8
	for _, s := range p.lines {
		if len(s.xs) == 0 {
			continue
		}
		for i := range s.xs {
			if i > 0 {
				line(img, px(s.xs[i-1]), py(s.ys[i-1]), px(s.xs[i]), py(s.ys[i]), s.color, s.dashed)
			}
			if !s.dashed {
				dot(img, px(s.xs[i]), py(s.ys[i]), s.color)
			}
		}
		lx := ox + panelW - marginR - textWidth(s.name) - 30
		line(img, lx, legendY+7, lx+20, legendY+7, s.color, s.dashed)
		drawText(img, lx+26, legendY, s.name, s.color)
		legendY += 20
	}
}

// niceScale returns an axis top at or above v and a step of 1, 2 or 5 times a power of ten
// that divides it into about five.
func niceScale(v float64) (top, step float64) {
	if v <= 0 {
		return 1, 0.2
	}
	raw := v / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return math.Ceil(v/step) * step, step
}

// line draws a 2-pixel line from (x0, y0) to (x1, y1), dashed if asked.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, dashed bool) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		if dashed && (i/8)%2 == 1 {
			continue
		}
		x := x0 + (x1-x0)*i/n
		y := y0 + (y1-y0)*i/n
		img.SetRGBA(x, y, c)
		img.SetRGBA(x+1, y, c)
		img.SetRGBA(x, y+1, c)
	}
}

func dot(img *image.RGBA, x, y int, c color.RGBA) {
	for dy := -4; dy <= 4; dy++ {
		for dx := -4; dx <= 4; dx++ {
			img.SetRGBA(x+dx, y+dy, c)
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
