package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// result is one measured point: an endpoint at a concurrency against one server.
type result struct {
	Scenario    string      `json:"scenario"` // register, activate or me
	Hash        string      `json:"hash"`     // default or cheap
	Params      argonParams `json:"params"`
	Concurrency int         `json:"concurrency"`
	Seconds     float64     `json:"seconds"`
	Requests    int         `json:"requests"`
	OK          int         `json:"ok"`
	Goodput     float64     `json:"goodput_per_second"`
	// Ceiling is the argon2id ceiling measured around this point, and OfCeiling Goodput as a
	// fraction of it (default hash only: each of these requests computes one hash).
	Ceiling     float64        `json:"ceiling_per_second,omitempty"`
	OfCeiling   float64        `json:"of_ceiling,omitempty"`
	LatencyMS   percentiles    `json:"latency_ms"` // of successful requests
	P99TargetMS float64        `json:"p99_target_ms,omitempty"`
	Statuses    map[string]int `json:"statuses"`
	// ServerCores is regapi's CPU time over the window's wall time; CPUPerOKMS divides it by
	// the successes.
	ServerCores float64 `json:"server_cpu_cores"`
	CPUPerOKMS  float64 `json:"server_cpu_ms_per_ok"`
	// HashCPUMS is the CPU time of one hash in the ceiling samples around the point, and
	// HashShareOfCPU its share of regapi's CPU per success: how much of regapi's work is
	// the hash, a figure that neighbours taking cores away disturb far less than goodput.
	HashCPUMS      float64 `json:"hash_cpu_ms,omitempty"`
	HashShareOfCPU float64 `json:"hash_share_of_cpu,omitempty"`
	// Account is where the cores went during the point, and CeilingAccount during the
	// ceiling sample before it (default hash only).
	Account        *cpuAccount `json:"account,omitempty"`
	CeilingAccount *cpuAccount `json:"ceiling_account,omitempty"`
	PeakRSSMiB     float64     `json:"peak_rss_mib"`
	DBCores        float64     `json:"postgres_cpu_cores"`
	LoadgenCores   float64     `json:"loadgen_cpu_cores"`
	// MachineCores is every process's CPU: what it has beyond regapi, PostgreSQL and the load
	// generator is other work on the machine that disturbed the point.
	MachineCores float64 `json:"machine_cpu_cores"`
	// Retries counts the measurements of this point dropped because other processes
	// disturbed them; the one kept is the last.
	Retries int `json:"retries"`
	// EmailsPerSecond is how many emails the provider accepted per second meanwhile: whether
	// delivery keeps up with registrations.
	EmailsPerSecond float64 `json:"emails_per_second"`
}

func newResult(scenario, hash string, p argonParams, c int, rec *recorder, u procUsage, ceilingRate float64) result {
	secs := rec.to.Sub(rec.from).Seconds()
	r := result{
		Scenario: scenario, Hash: hash, Params: p, Concurrency: c, Seconds: secs,
		OK: len(rec.okLat), Statuses: rec.statuses, LatencyMS: latencyPercentiles(rec.okLat),
		PeakRSSMiB: float64(u.peakRSS) / (1 << 20),
	}
	for _, n := range rec.statuses {
		r.Requests += n
	}
	r.Goodput = float64(r.OK) / secs
	if w := u.wall.Seconds(); w > 0 {
		r.ServerCores = u.serverCPU.Seconds() / w
		r.DBCores = u.dbCPU.Seconds() / w
		r.LoadgenCores = u.loadgenCPU.Seconds() / w
		r.MachineCores = u.machineCPU.Seconds() / w
	}
	if r.OK > 0 {
		r.CPUPerOKMS = float64(u.serverCPU.Milliseconds()) / float64(r.OK)
	}
	if hash == "default" && ceilingRate > 0 {
		r.Ceiling = ceilingRate
		r.OfCeiling = r.Goodput / ceilingRate
		r.P99TargetMS = 2 * float64(c) / ceilingRate * 1000
	}
	return r
}

// report is everything one run measured.
type report struct {
	Mode            string             `json:"mode"`
	Started         string             `json:"started"`
	Finished        string             `json:"finished"`
	Machine         machine            `json:"machine"`
	HashConcurrency int                `json:"hash_concurrency"`
	WarmupSeconds   float64            `json:"warmup_seconds"`
	WindowSeconds   float64            `json:"window_seconds"`
	Ceilings        map[string]ceiling `json:"ceilings"`
	Results         []result           `json:"results"`
	Email           []emailResult      `json:"email"`
	Events          []eventResult      `json:"events,omitempty"`
	Targets         []target           `json:"targets"`
	Scale           []scaleResult      `json:"scale,omitempty"`
}

// sane reports a run that measured nothing, which means the harness or regapi is broken.
func (r *report) sane() error {
	var problems []error
	for _, res := range r.Results {
		if res.OK == 0 {
			problems = append(problems, fmt.Errorf("%s %s at concurrency %d: no request succeeded (%v)",
				res.Hash, res.Scenario, res.Concurrency, res.Statuses))
		}
	}
	for _, e := range r.Email {
		if e.Registrations == 0 || e.Delivered == 0 {
			problems = append(problems, fmt.Errorf("email %s: %d registered, %d delivered", e.Name, e.Registrations, e.Delivered))
		}
	}
	for _, e := range r.Events {
		if e.Delivered == 0 || e.BadSignatures > 0 {
			problems = append(problems, fmt.Errorf("events %s: %d of %d delivered, %d with a bad signature",
				e.Name, e.Delivered, e.Events, e.BadSignatures))
		}
	}
	for _, sr := range r.Scale {
		for _, p := range sr.Points {
			if p.PerSecond == 0 && p.Note != noHashNote {
				problems = append(problems, fmt.Errorf("scale, %d accounts, %s: nothing succeeded", sr.Accounts, p.Name))
			}
		}
	}
	return errors.Join(problems...)
}

func (r *report) find(hash, scenario string, c int) (result, bool) {
	for _, res := range r.Results {
		if res.Hash == hash && res.Scenario == scenario && res.Concurrency == c {
			return res, true
		}
	}
	return result{}, false
}

// writeReport writes results.json, results.md and chart.png into dir, and the tables to w.
func writeReport(r *report, dir string, w io.Writer) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	writeTables(&md, r)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	if err := writeChart(filepath.Join(dir, "chart.png"), r); err != nil && len(r.Results) > 0 {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Fprint(w, "\n"+md.String())
	fmt.Fprintf(w, "\nwritten: %s\n", strings.Join([]string{
		filepath.Join(dir, "results.json"), filepath.Join(dir, "results.md"), filepath.Join(dir, "chart.png")}, ", "))
	return nil
}

func writeTables(w io.Writer, r *report) {
	m := r.Machine
	fmt.Fprintf(w, "Machine: %s, %d cores, %d GiB RAM, %s, %s, PostgreSQL %s. Mode %s, %s warm-up + %s measured per point.\n\n",
		m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.GoVersion, m.PostgreSQL, r.Mode, secs(r.WarmupSeconds), secs(r.WindowSeconds))
	for _, name := range []string{"default", "cheap"} {
		c, ok := r.Ceilings[name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "argon2id ceiling (%s, %s, %d goroutines): **%.1f hashes/s**\n\n", name, c.Params, c.Goroutines, c.HashesPerSecond)
	}
	writeResultTables(w, r)
	writeScaleTables(w, r.Scale)
	fmt.Fprintln(w, "\n| target | measured | limit | met |")
	fmt.Fprintln(w, "|---|--:|--:|---|")
	for _, t := range r.Targets {
		met := "yes"
		if !t.Met {
			met = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s %s | %s |\n", t.Name, t.fmt(t.Value), t.Cmp, t.fmt(t.Limit), met)
	}
}

// writeResultTables writes the table of endpoint points and that of the email runs, those
// the run has.
func writeResultTables(w io.Writer, r *report) {
	if len(r.Results) > 0 {
		writePointTable(w, r)
		writeAccountTable(w, r)
	}
	if len(r.Email) > 0 {
		writeEmailTable(w, r)
	}
	if len(r.Events) > 0 {
		writeEventTable(w, r)
	}
}

func writeEventTable(w io.Writer, r *report) {
	fmt.Fprintln(w, "\n| events run | accounts | events | delivered | delivered/s (all / middle 80 %) | slot bound/s | in flight mean / peak | commit→accepted p50 / p99 / max ms | out of order | repeats | regapi CPU | postgres CPU |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, e := range r.Events {
		run := fmt.Sprintf("steady %.0f registrations/s, receiver at once", e.OfferedRate)
		bound := "–"
		if e.Name != "steady" {
			run = fmt.Sprintf("%d events per account, receiver %.0f ms, %d slots", e.Chain, e.ReceiverDelayMS, e.SendSlots)
			bound = fmt.Sprintf("%.0f", e.SlotBound)
		}
		order := strconv.Itoa(e.OutOfOrder)
		if e.WrongSequence > 0 {
			order += fmt.Sprintf(" (%d accounts in another order)", e.WrongSequence)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.1f / %.1f | %s | %.1f / %d | %.1f / %.1f / %.1f | %s | %d | %.2f | %.2f |\n",
			run, e.Accounts, e.Events, e.Delivered, e.DeliveredPerSecond, e.MiddlePerSecond, bound, e.MeanInFlight, e.PeakInFlight,
			e.CommitToAcceptedMS.P50, e.CommitToAcceptedMS.P99, e.CommitToAcceptedMS.Max, order, e.Repeats, e.ServerCores, e.DBCores)
	}
}

func statusList(s map[string]int) string {
	keys := slices.Sorted(maps.Keys(s))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, s[k])
	}
	return strings.Join(parts, " ")
}

func secs(s float64) string { return fmt.Sprintf("%gs", s) }

func writePointTable(w io.Writer, r *report) {
	fmt.Fprintln(w, "| hash | endpoint | conc. | goodput/s | of ceiling | p50 ms | p90 ms | p99 ms | max ms | p99 target ms | responses | regapi CPU | CPU ms/ok | peak RSS MiB | postgres CPU | loadgen CPU | machine CPU | emails/s |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, res := range r.Results {
		of, target := "–", "–"
		if res.OfCeiling > 0 {
			of = fmt.Sprintf("%.1f %%", 100*res.OfCeiling)
			target = fmt.Sprintf("%.0f", res.P99TargetMS)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.1f | %s | %.1f | %.1f | %.1f | %.1f | %s | %s | %.2f | %.2f | %.0f | %.2f | %.2f | %.2f | %.0f |\n",
			res.Hash, res.Scenario, res.Concurrency, res.Goodput, of, res.LatencyMS.P50, res.LatencyMS.P90,
			res.LatencyMS.P99, res.LatencyMS.Max, target, statusList(res.Statuses), res.ServerCores, res.CPUPerOKMS,
			res.PeakRSSMiB, res.DBCores, res.LoadgenCores, res.MachineCores, res.EmailsPerSecond)
	}
}

func writeEmailTable(w io.Writer, r *report) {
	fmt.Fprintln(w, "\n| email run | registered | registered/s | delivered | delivered/s | commit→accepted p50 / p99 / max ms | 201→accepted p50 / p99 ms | drain after last 201 | regapi CPU | peak RSS MiB |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, e := range r.Email {
		run := fmt.Sprintf("steady %.0f/s", e.OfferedRate)
		drain := "–"
		if e.Name == "burst" {
			run = fmt.Sprintf("burst, concurrency %d", e.Concurrency)
			drain = fmt.Sprintf("%.2f s", e.DrainSeconds)
		}
		fmt.Fprintf(w, "| %s | %d | %.0f | %d | %.1f | %.1f / %.1f / %.1f | %.1f / %.1f | %s | %.2f | %.0f |\n",
			run, e.Registrations, e.RegisteredPerSecond, e.Delivered, e.DeliveredPerSecond, e.CommitToAcceptedMS.P50, e.CommitToAcceptedMS.P99,
			e.CommitToAcceptedMS.Max, e.AnsweredToAcceptedMS.P50, e.AnsweredToAcceptedMS.P99, drain, e.ServerCores, e.PeakRSSMiB)
	}
}
