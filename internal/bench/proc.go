package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// 100 on every Linux architecture Go builds for.
const clockTicks = 100

// procStat is what the benchmark reads from /proc/PID/stat.
type procStat struct {
	pgid     int
	cpuTicks uint64 // utime + stime
	zombie   bool
}

// parseStat reads the fields of /proc/PID/stat the benchmark needs. The
// command name may hold spaces and parentheses, so fields are counted
// from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("no ')' in /proc stat line")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); pgrp is field 5, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc stat line has %d fields after the command, want at least 13", len(f))
	}
	pgid, err := strconv.Atoi(f[2])
	if err != nil {
		return procStat{}, fmt.Errorf("pgrp %q: %v", f[2], err)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, fmt.Errorf("utime %q stime %q: not numbers", f[11], f[12])
	}
	return procStat{pgid: pgid, cpuTicks: ut + st, zombie: f[0] == "Z"}, nil
}

// parsePss reads the Pss line of /proc/PID/smaps_rollup, in bytes.
func parsePss(b []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "Pss:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("Pss %q: %v", f[1], err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no Pss line in smaps_rollup")
}

// usage is the DUT's resources at one moment, summed over its processes.
type usage struct {
	pids     int
	cpuTicks uint64
	pss      uint64
}

// groupUsage sums CPU time and PSS over every live process whose process
// group is one of groups (each DUT daemon is started as a group leader,
// so helpers it forks are counted too). withPss skips the costlier
// smaps_rollup read when only CPU is wanted.
func groupUsage(proc string, groups []int, withPss bool) (usage, error) {
	want := map[int]bool{}
	for _, g := range groups {
		want[g] = true
	}
	ents, err := os.ReadDir(proc)
	if err != nil {
		return usage{}, err
	}
	var u usage
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // gone since ReadDir
		}
		st, err := parseStat(b)
		if err != nil || !want[st.pgid] || st.zombie {
			continue
		}
		u.pids++
		u.cpuTicks += st.cpuTicks
		if withPss {
			rb, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "smaps_rollup"))
			if err != nil {
				return u, fmt.Errorf("reading memory of pid %d: %v", pid, err)
			}
			p, err := parsePss(rb)
			if err != nil {
				return u, fmt.Errorf("pid %d: %v", pid, err)
			}
			u.pss += p
		}
	}
	return u, nil
}
