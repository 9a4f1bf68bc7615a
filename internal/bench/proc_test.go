package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestParseStat(t *testing.T) {
	line := "4242 (bgpd (x) y) S 1 4242 4242 0 -1 4194560 1 0 0 0 150 37 0 0 20 0 5 0 100 1000 200 0\n"
	st, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.pgid != 4242 || st.cpuTicks != 187 || st.zombie {
		t.Errorf("got %+v, want pgid 4242, 187 ticks, running", st)
	}
	if st, _ := parseStat([]byte("7 (z) Z 1 7 7 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 0 0 0")); !st.zombie {
		t.Error("state Z not seen as a zombie")
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S 1 q 1 0 -1 0 0 0 0 0 1 1 0", "1 (x) S 1 2 1 0 -1 0 0 0 0 0 a 1 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
}

func TestParsePss(t *testing.T) {
	in := "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  2048 kB\nPss:  1536 kB\nPss_Anon: 1000 kB\n"
	if n, err := parsePss([]byte(in)); err != nil || n != 1536*1024 {
		t.Errorf("parsePss = %d, %v", n, err)
	}
	for _, bad := range []string{"Rss: 1 kB\n", "Pss: x kB\n"} {
		if _, err := parsePss([]byte(bad)); err == nil {
			t.Errorf("parsePss(%q) accepted", bad)
		}
	}
}

// TestGroupUsage sums a fake /proc: two processes of the group, one of
// another group, one zombie of the group.
func TestGroupUsage(t *testing.T) {
	proc := t.TempDir()
	write := func(pid int, pgid int, state string, ticks int, pssKB int) {
		d := filepath.Join(proc, strconv.Itoa(pid))
		os.MkdirAll(d, 0o755)
		stat := strconv.Itoa(pid) + " (d) " + state + " 1 " + strconv.Itoa(pgid) + " 1 0 -1 0 0 0 0 0 " + strconv.Itoa(ticks) + " 1 0 0 20 0 1 0 1 0 0 0\n"
		os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644)
		os.WriteFile(filepath.Join(d, "smaps_rollup"), []byte("Pss: "+strconv.Itoa(pssKB)+" kB\n"), 0o644)
	}
	write(10, 10, "S", 99, 1000)
	write(11, 10, "S", 9, 24)
	write(12, 20, "S", 500, 5000)
	write(13, 10, "Z", 500, 5000)
	os.MkdirAll(filepath.Join(proc, "self"), 0o755)
	u, err := groupUsage(proc, []int{10}, true)
	if err != nil {
		t.Fatal(err)
	}
	if u.pids != 2 || u.cpuTicks != 110 || u.pss != 1024*1024 {
		t.Errorf("got %+v, want 2 pids, 110 ticks, 1 MiB", u)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"bgpd version 8.4.4\nCopyright 1996-2005 Kunihiro Ishiguro, et al.\n": "8.4.4",
		"BIRD version 2.0.12\n":   "2.0.12",
		"gobgpd version 3.10.0\n": "3.10.0",
		"no such flag":            "unknown",
	} {
		if got := parseVersion(in); got != want {
			t.Errorf("parseVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
