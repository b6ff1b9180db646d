package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports.
const clockTicks = 100

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
		sampled := memStatus(pid, "VmRSS")
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
	sampling:
		for {
			select {
			case <-stop:
				break sampling
			case <-tick.C:
				sampled = max(sampled, memStatus(pid, "VmRSS"))
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
			u.peakRSS = max(u.peakRSS, memStatus(pid, "VmHWM"))
		}
		out <- u
	}()
	return out
}

// cpuTime returns the user plus system CPU time process pid has used, zero when unknown.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	_, fields := procStatFields(data)
	if len(fields) < 13 {
		return 0
	}
	// Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command name.
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// procStatFields splits /proc/<pid>/stat into the command name and the fields after it. The
// name is in parentheses and may itself contain spaces and parentheses.
func procStatFields(data []byte) (string, []string) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return "", nil
	}
	return string(data[open+1 : end]), strings.Fields(string(data[end+1:]))
}

// memStatus returns a "kB" line of /proc/<pid>/status, such as VmRSS or VmHWM, in bytes.
func memStatus(pid int, key string) int64 {
	return memStatusFile(filepath.Join("/proc", strconv.Itoa(pid), "status"), key)
}

// machineCPU returns the CPU time all processes have spent busy, from /proc/stat.
func machineCPU() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, f := range fields[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		v, _ := strconv.ParseInt(f, 10, 64)
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// postgresCPU returns the CPU time of every process named postgres on the machine, by pid.
func postgresCPU() map[int]time.Duration {
	matches, _ := filepath.Glob("/proc/[0-9]*/stat")
	out := map[int]time.Duration{}
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		if name, _ := procStatFields(data); name != "postgres" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(m)))
		out[pid] = cpuTime(pid)
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
