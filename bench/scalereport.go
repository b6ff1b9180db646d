package main

import (
	"fmt"
	"io"
)

// writeScaleTables writes the scale mode's points as ratios to the empty database, and the
// cost of one registration at each size.
func writeScaleTables(w io.Writer, rs []scaleResult) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprint(w, "\n| point (per second; ratio to the empty database) |")
	for _, r := range rs {
		fmt.Fprintf(w, " %d accounts |", r.Accounts)
	}
	fmt.Fprint(w, "\n|---|")
	for range rs {
		fmt.Fprint(w, "--:|")
	}
	for i, p := range rs[0].Points {
		fmt.Fprintf(w, "\n| %s |", p.Name)
		for _, r := range rs {
			if i >= len(r.Points) {
				fmt.Fprint(w, " – |")
				continue
			}
			q := r.Points[i]
			fmt.Fprintf(w, " %.1f (%.2f)", q.PerSecond, q.Ratio)
			if q.OfCeiling > 0 {
				fmt.Fprintf(w, ", %.0f %% of ceiling", 100*q.OfCeiling)
			}
			if q.Note != "" {
				fmt.Fprintf(w, " [%s]", q.Note)
			}
			fmt.Fprint(w, " |")
		}
	}
	fmt.Fprintln(w)
	costRow(w, rs, "preload, s", func(r scaleResult) float64 { return r.PreloadSeconds }, "%.0f")
	costRow(w, rs, "bytes per account (tables + indexes)", func(r scaleResult) float64 { return r.BytesPerAccount }, "%.0f")
	writeCostRows(w, rs)
	for _, r := range rs {
		for i, c := range r.CostAgain {
			fmt.Fprintf(w, "\nCost run %d, %d accounts, right after the one above: %.0f WAL bytes per registration, %.0f without full-page images, %.2f full-page images\n",
				i+2, r.Accounts, c.WALBytes, c.WALBytesNoFPI, c.FullPageImages)
		}
		if r.SlowestDelivery != "" {
			fmt.Fprintf(w, "\nMost PostgreSQL time during delivery, %d accounts: %s\n", r.Accounts, r.SlowestDelivery)
		}
	}
}

func writeCostRows(w io.Writer, rs []scaleResult) {
	rows := []struct {
		name string
		f    func(cost) float64
		fmt  string
	}{
		{"per registration: round trips", func(c cost) float64 { return c.RoundTrips }, "%.2f"},
		{"per registration: statements", func(c cost) float64 { return c.Statements }, "%.2f"},
		{"per registration: commits", func(c cost) float64 { return c.Commits }, "%.2f"},
		{"per registration: rows written", func(c cost) float64 { return c.RowsWritten }, "%.2f"},
		{"per registration: WAL bytes", func(c cost) float64 { return c.WALBytes }, "%.0f"},
		{"per registration: WAL bytes without full-page images", func(c cost) float64 { return c.WALBytesNoFPI }, "%.0f"},
		{"per registration: full-page images", func(c cost) float64 { return c.FullPageImages }, "%.2f"},
		{"per registration: regapi CPU-ms outside the hash", func(c cost) float64 { return c.RegapiCPUNoHash }, "%.3f"},
		{"per registration: PostgreSQL CPU-ms", func(c cost) float64 { return c.PostgresCPUMS }, "%.3f"},
		{"shared-buffer hit rate during the cost run", func(c cost) float64 { return c.BufferHitRate }, "%.3f"},
	}
	for _, row := range rows {
		costRow(w, rs, row.name, func(r scaleResult) float64 { return row.f(r.Cost) }, row.fmt)
	}
}

func costRow(w io.Writer, rs []scaleResult, name string, f func(scaleResult) float64, format string) {
	fmt.Fprintf(w, "| %s |", name)
	for _, r := range rs {
		fmt.Fprintf(w, " "+format+" |", f(r))
	}
	fmt.Fprintln(w)
}
