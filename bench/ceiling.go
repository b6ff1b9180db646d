package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"
)

// argonParams is an argon2id cost, as regapi's ARGON2_* settings give it.
type argonParams struct {
	MemoryKiB   uint32 `json:"memory_kib"`
	Iterations  uint32 `json:"iterations"`
	Parallelism uint8  `json:"parallelism"`
}

func (p argonParams) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism)
}

// env returns the settings that make regapi hash with p.
func (p argonParams) env() map[string]string {
	return map[string]string{
		"ARGON2_MEMORY_KIB":  strconv.Itoa(int(p.MemoryKiB)),
		"ARGON2_ITERATIONS":  strconv.Itoa(int(p.Iterations)),
		"ARGON2_PARALLELISM": strconv.Itoa(int(p.Parallelism)),
	}
}

// ceiling is the most argon2id hashes per second this machine computes.
type ceiling struct {
	Params          argonParams `json:"params"`
	Goroutines      int         `json:"goroutines"`
	Seconds         float64     `json:"seconds"` // of each sample
	HashesPerSecond float64     `json:"hashes_per_second"`
	// Samples, when the ceiling was measured more than once, are the single measurements;
	// HashesPerSecond is their mean.
	Samples []float64 `json:"samples,omitempty"`
	// CPUMSPerHash is the CPU time of one hash (of the last sample, when there are several).
	CPUMSPerHash float64 `json:"cpu_ms_per_hash"`
	// Account is where the cores went while the (last) sample was measured.
	Account *cpuAccount `json:"account,omitempty"`
}

func newCeiling(p argonParams, samples []float64, each time.Duration) ceiling {
	sum := 0.0
	for _, s := range samples {
		sum += s
	}
	return ceiling{Params: p, Goroutines: runtime.NumCPU(), Seconds: each.Seconds(),
		HashesPerSecond: sum / float64(len(samples)), Samples: samples}
}

// ceilingSlices is how many parts a ceiling sample is cut into; the sample is their median.
const ceilingSlices = 3

// measureCeiling hashes with p on workers goroutines as fast as they can, for warmup and
// then d: the same computation regapi's hasher does (golang.org/x/crypto/argon2), so the
// same ceiling. The rate is the median of ceilingSlices equal parts of d: on a shared
// machine a neighbour's short burst of work can halve one part's rate, and the median
// leaves such a part out without favouring a lucky one. With profiled, the account of the
// sample also splits this process's CPU time by its CPU profile.
func measureCeiling(ctx context.Context, p argonParams, workers int, warmup, d time.Duration, profiled bool) ceiling {
	password, salt := []byte(benchPassword), []byte("0123456789abcdef")
	var counts [ceilingSlices]atomic.Int64
	var all atomic.Int64
	cpu0 := cpuTime(os.Getpid())
	from := time.Now().Add(warmup)
	slice := d / ceilingSlices
	stop := make(chan struct{})
	watch := watchUntil(os.Getpid(), from, stop, nil)
	var prof func() []byte
	if profiled {
		prof = profileSelf(ctx, from, from.Add(d))
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				argon2.IDKey(password, salt, p.Iterations, p.MemoryKiB, p.Parallelism, 32)
				all.Add(1)
				since := time.Since(from)
				if since >= d {
					return
				}
				if since >= 0 {
					counts[since/slice].Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	var n [ceilingSlices]int64
	var measured int64
	for i := range counts {
		n[i] = counts[i].Load()
		measured += n[i]
	}
	u := <-watch
	a := ceilingAccount(u, measured, workers)
	if prof != nil {
		a.addProfile(prof(), measured, workers, u.wall)
	}
	slices.Sort(n[:])
	c := ceiling{Params: p, Goroutines: workers, Seconds: d.Seconds(), HashesPerSecond: float64(n[ceilingSlices/2]) / slice.Seconds(),
		Account: &a}
	if total := all.Load(); total > 0 {
		// CPU time counts only the cycles the hash got, so neighbours that take cores away
		// change it far less than the rate.
		c.CPUMSPerHash = ms(cpuTime(os.Getpid())-cpu0) / float64(total)
	}
	return c
}

// machine describes where the benchmark ran.
type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryGiB  int    `json:"memory_gib"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	PostgreSQL string `json:"postgresql"`
}

func describeMachine(ctx context.Context, adminURL string) machine {
	m := machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), CPU: "unknown"}
	if proc != nil {
		if cpus, err := proc.CPUInfo(); err == nil && len(cpus) > 0 {
			m.CPU = cpus[0].ModelName
		}
		if mem, err := proc.Meminfo(); err == nil && mem.MemTotalBytes != nil {
			m.MemoryGiB = int(*mem.MemTotalBytes >> 30)
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(data))
	}
	if conn, err := pgx.Connect(ctx, adminURL); err == nil {
		_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&m.PostgreSQL)
		conn.Close(ctx)
	}
	return m
}
