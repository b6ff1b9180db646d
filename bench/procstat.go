package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/procfs"
)

// proc is the /proc file system, or nil where there is none: then every figure read from it
// is zero.
var proc = func() *procfs.FS {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return nil
	}
	return &fs
}()

// procUsage is what a measured window cost, read from /proc.
type procUsage struct {
	wall       time.Duration
	serverCPU  time.Duration // regapi, user + system
	peakRSS    int64         // regapi, bytes
	loadgenCPU time.Duration // this process
	dbCPU      time.Duration // every postgres process, as far as they outlived the window
	machineCPU time.Duration // every process on the machine
}

// otherCores is the CPU, in cores, that processes other than regapi, PostgreSQL and the
// load generator used during the window.
func (u procUsage) otherCores() float64 {
	if u.wall <= 0 {
		return 0
	}
	return max(0, (u.machineCPU-u.serverCPU-u.dbCPU-u.loadgenCPU).Seconds()/u.wall.Seconds())
}

// watchProcess measures pid between from and to, or until ctx ends: CPU time used, and
// peak RSS.
func watchProcess(ctx context.Context, pid int, from, to time.Time) <-chan procUsage {
	ctx, cancel := context.WithDeadline(ctx, to)
	stop := make(chan struct{})
	go func() {
		<-ctx.Done()
		cancel()
		close(stop)
	}()
	return watchUntil(pid, from, stop)
}

// watchUntil measures pid from from until stop is closed. The peak RSS is the kernel's
// high-water mark (VmHWM), reset at from through clear_refs, and also sampled every 50 ms in
// case the reset is not allowed; the larger of the two counts.
func watchUntil(pid int, from time.Time, stop <-chan struct{}) <-chan procUsage {
	out := make(chan procUsage, 1)
	go func() {
		select {
		case <-stop:
		case <-time.After(time.Until(from)):
		}
		start := time.Now()
		cpu0, self0, db0, all0 := cpuTime(pid), cpuTime(os.Getpid()), postgresCPU(), machineCPU()
		resetHWM := os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "clear_refs"), []byte("5"), 0) == nil
		sampled := rss(pid)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	sampling:
		for {
			select {
			case <-stop:
				break sampling
			case <-tick.C:
				sampled = max(sampled, rss(pid))
			}
		}
		u := procUsage{
			wall:       time.Since(start),
			serverCPU:  cpuTime(pid) - cpu0,
			loadgenCPU: cpuTime(os.Getpid()) - self0,
			dbCPU:      cpuSince(db0, postgresCPU()),
			machineCPU: machineCPU() - all0,
			peakRSS:    sampled,
		}
		if resetHWM {
			u.peakRSS = max(u.peakRSS, highWaterRSS(pid))
		}
		out <- u
	}()
	return out
}

// cpuTime returns the user plus system CPU time process pid has used, zero when unknown.
func cpuTime(pid int) time.Duration {
	st, err := process(pid, procfs.Proc.Stat)
	if err != nil {
		return 0
	}
	return seconds(st.CPUTime())
}

// rss returns pid's resident set (VmRSS) in bytes, zero when unknown.
func rss(pid int) int64 {
	st, err := process(pid, procfs.Proc.NewStatus)
	if err != nil {
		return 0
	}
	return int64(st.VmRSS)
}

// highWaterRSS returns the high-water mark of pid's resident set (VmHWM) in bytes, zero
// when unknown.
func highWaterRSS(pid int) int64 {
	st, err := process(pid, procfs.Proc.NewStatus)
	if err != nil {
		return 0
	}
	return int64(st.VmHWM)
}

// process reads one file of /proc/<pid> with read.
func process[T any](pid int, read func(procfs.Proc) (T, error)) (T, error) {
	var zero T
	if proc == nil {
		return zero, errors.New("no /proc")
	}
	p, err := proc.Proc(pid)
	if err != nil {
		return zero, err
	}
	return read(p)
}

// machineCPU returns the CPU time all processes have spent busy, from /proc/stat.
func machineCPU() time.Duration {
	if proc == nil {
		return 0
	}
	st, err := proc.Stat()
	if err != nil {
		return 0
	}
	c := st.CPUTotal
	return seconds(c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal)
}

// postmaster is the pid of the benchmark's PostgreSQL server when it runs on this machine:
// then only its processes count as PostgreSQL's CPU, not those of other clusters.
var postmaster atomic.Int64

// findPostmaster sets postmaster from the parent of a backend of the server at adminURL.
func findPostmaster(ctx context.Context, adminURL string) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil || proc == nil {
		return
	}
	defer conn.Close(ctx)
	var pid int
	if conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid) != nil {
		return
	}
	if p, err := proc.Proc(pid); err == nil {
		if st, err := p.Stat(); err == nil && st.Comm == "postgres" {
			postmaster.Store(int64(st.PPID))
		}
	}
}

// postgresCPU returns the CPU time of every process of the benchmark's PostgreSQL server
// (of every process named postgres, when it is not known), by pid.
func postgresCPU() map[int]time.Duration {
	out := map[int]time.Duration{}
	if proc == nil {
		return out
	}
	procs, err := proc.AllProcs()
	if err != nil {
		return out
	}
	for _, p := range procs {
		st, err := p.Stat()
		if err != nil || st.Comm != "postgres" {
			continue
		}
		if pm := int(postmaster.Load()); pm != 0 && st.PPID != pm && st.PID != pm {
			continue
		}
		out[p.PID] = seconds(st.CPUTime())
	}
	return out
}

// cpuSince returns the CPU time the processes of now used since then: all of it for those
// that started meanwhile. Those that ended meanwhile are lost, so this is a lower bound.
func cpuSince(then, now map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range now {
		d += max(t-then[pid], 0)
	}
	return d
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
