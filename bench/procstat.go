package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/metrics"
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
	server     procTimes     // regapi: the same, split, with its page faults
	serverGC   time.Duration // regapi's garbage collector (see collectorTime), -1 when unknown
	serverGCP  time.Duration // of serverGC, its stop-the-world pauses' length
	serverGCs  int64         // regapi's garbage collections, -1 when unknown
	hashBusy   time.Duration // regapi's hash slots held, summed over the slots, -1 when unknown
	peakRSS    int64         // regapi, bytes
	loadgenCPU time.Duration // this process
	loadgen    procTimes
	loadgenGC  time.Duration
	loadgenGCP time.Duration
	loadgenGCs int64
	dbCPU      time.Duration // every postgres process, as far as they outlived the window
	machineCPU time.Duration // every process on the machine
	idle       time.Duration // every core's idle and I/O wait time
}

// procTimes is one process's CPU time, split into user and system, and its page faults.
type procTimes struct {
	user, system        time.Duration
	minorFaults, majors uint64
}

// userHZ is the unit of /proc/<pid>/stat's times (as procfs assumes).
const userHZ = 100

// timesOf reads pid's procTimes, zero when unknown.
func timesOf(pid int) procTimes {
	st, err := process(pid, procfs.Proc.Stat)
	if err != nil {
		return procTimes{}
	}
	return procTimes{user: ticks(st.UTime), system: ticks(st.STime), minorFaults: uint64(st.MinFlt), majors: uint64(st.MajFlt)}
}

func (t procTimes) minus(u procTimes) procTimes {
	return procTimes{t.user - u.user, t.system - u.system, t.minorFaults - u.minorFaults, t.majors - u.majors}
}

// cpu is the user plus system time.
func (t procTimes) cpu() time.Duration { return t.user + t.system }

func ticks(n uint) time.Duration { return time.Duration(n) * time.Second / userHZ }

// otherCores is the CPU, in cores, that processes other than regapi, PostgreSQL and the
// load generator used during the window.
func (u procUsage) otherCores() float64 {
	if u.wall <= 0 {
		return 0
	}
	return max(0, (u.machineCPU-u.serverCPU-u.dbCPU-u.loadgenCPU).Seconds()/u.wall.Seconds())
}

// watchProcess measures pid between from and to, or until ctx ends: CPU time used, and
// peak RSS. scrape, when not nil, reads the process's own counters.
func watchProcess(ctx context.Context, pid int, from, to time.Time, scrape func() counters) <-chan procUsage {
	ctx, cancel := context.WithDeadline(ctx, to)
	stop := make(chan struct{})
	go func() {
		<-ctx.Done()
		cancel()
		close(stop)
	}()
	return watchUntil(pid, from, stop, scrape)
}

// watchUntil measures pid from from until stop is closed. The peak RSS is the kernel's
// high-water mark (VmHWM), reset at from through clear_refs; where the reset is not allowed,
// it is sampled every 50 ms instead.
func watchUntil(pid int, from time.Time, stop <-chan struct{}, scrape func() counters) <-chan procUsage {
	out := make(chan procUsage, 1)
	go func() {
		select {
		case <-stop:
		case <-time.After(time.Until(from)):
		}
		start := time.Now()
		times0, self0, db0 := timesOf(pid), timesOf(os.Getpid()), postgresCPU()
		all0, idle0 := machineCPU()
		c0, self0GC := read(scrape), runtimeGC()
		resetHWM := os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "clear_refs"), []byte("5"), 0) == nil
		sampled := rss(pid)
		if resetHWM {
			<-stop // the kernel keeps the peak: sampling would only cost the cores measured
		} else {
			sampled = max(sampled, sampleRSS(pid, stop))
		}
		server, loadgen := timesOf(pid).minus(times0), timesOf(os.Getpid()).minus(self0)
		all1, idle1 := machineCPU()
		u := procUsage{
			wall:       time.Since(start),
			serverCPU:  server.cpu(),
			loadgenCPU: loadgen.cpu(),
			dbCPU:      cpuSince(db0, postgresCPU()),
			machineCPU: all1 - all0,
			peakRSS:    sampled,
			server:     server,
			serverGC:   -1,
			serverGCs:  -1,
			hashBusy:   -1,
			loadgen:    loadgen,
			idle:       idle1 - idle0,
		}
		self1GC := runtimeGC()
		u.loadgenGC, u.loadgenGCP, u.loadgenGCs = self1GC.cpu-self0GC.cpu, self1GC.pause-self0GC.pause, self1GC.cycles-self0GC.cycles
		if c1 := read(scrape); c0.ok && c1.ok {
			u.serverGC, u.serverGCP, u.serverGCs = c1.gc-c0.gc, c1.gcPause-c0.gcPause, c1.gcCycles-c0.gcCycles
			u.hashBusy = c1.hashBusy - c0.hashBusy
		}
		if resetHWM {
			u.peakRSS = max(u.peakRSS, highWaterRSS(pid))
		}
		out <- u
	}()
	return out
}

// sampleRSS returns the largest RSS of pid seen every 50 ms until stop is closed.
func sampleRSS(pid int, stop <-chan struct{}) int64 {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var peak int64
	for {
		select {
		case <-stop:
			return peak
		case <-tick.C:
			peak = max(peak, rss(pid))
		}
	}
}

// cpuTime returns the user plus system CPU time process pid has used, zero when unknown.
func cpuTime(pid int) time.Duration { return timesOf(pid).cpu() }

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

// machineCPU returns the CPU time all processes have spent busy, and the time all cores
// have spent idle or waiting for I/O, from /proc/stat.
func machineCPU() (busy, idle time.Duration) {
	if proc == nil {
		return 0, 0
	}
	st, err := proc.Stat()
	if err != nil {
		return 0, 0
	}
	c := st.CPUTotal
	return seconds(c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal), seconds(c.Idle + c.Iowait)
}

// counters are what regapi's /metrics says of its own CPU time.
type counters struct {
	gc       time.Duration // the garbage collector's CPU time (see collectorTime)
	gcPause  time.Duration // of gc, the stop-the-world pauses' length
	gcCycles int64         // garbage collections completed
	hashBusy time.Duration // how long the hash slots were held, summed over the slots
	ok       bool
}

// read calls scrape, when there is one.
func read(scrape func() counters) counters {
	if scrape == nil {
		return counters{}
	}
	return scrape()
}

// gcStats is a process's garbage collector CPU time (see collectorTime), the length of its
// stop-the-world pauses, and the collections it completed.
type gcStats struct {
	cpu, pause time.Duration
	cycles     int64
}

// runtimeGC returns this process's gcStats.
func runtimeGC() gcStats {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/gc/pause:cpu-seconds"},
		{Name: "/sched/gomaxprocs:threads"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	var g gcStats
	if s[0].Value.Kind() == metrics.KindFloat64 && s[1].Value.Kind() == metrics.KindFloat64 && s[2].Value.Kind() == metrics.KindUint64 {
		g.cpu, g.pause = collectorTime(s[0].Value.Float64(), s[1].Value.Float64(), float64(s[2].Value.Uint64()))
	}
	if s[3].Value.Kind() == metrics.KindUint64 {
		g.cycles = int64(s[3].Value.Uint64()) // #nosec G115 -- a count of collections
	}
	return g
}

// collectorTime turns the runtime's estimates of a process's collector time, total seconds
// of which pause seconds with the world stopped, into CPU time. The runtime counts a pause
// as GOMAXPROCS × its length, since no goroutine can run meanwhile; but the stopped threads
// sleep, and the cores go to other processes. A pause is counted here at its length (one
// thread at work, an upper bound), which it also returns.
func collectorTime(total, pause, gomaxprocs float64) (cpu, pauseLength time.Duration) {
	if gomaxprocs < 1 {
		gomaxprocs = 1
	}
	pauseLength = seconds(pause / gomaxprocs)
	return seconds(total-pause) + pauseLength, pauseLength
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
