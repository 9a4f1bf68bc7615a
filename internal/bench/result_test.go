package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestMedianAndRange(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		med, lo, hi float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 1, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
	} {
		if m := median(tc.in); m != tc.med {
			t.Errorf("median(%v) = %v, want %v", tc.in, m, tc.med)
		}
		if m := minOf(tc.in); m != tc.lo {
			t.Errorf("minOf(%v) = %v", tc.in, m)
		}
		if m := maxOf(tc.in); m != tc.hi {
			t.Errorf("maxOf(%v) = %v", tc.in, m)
		}
	}
	if median(nil) != 0 {
		t.Error("median of nothing")
	}
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 {
		t.Error("median sorted its input")
	}
}

func TestRatio(t *testing.T) {
	for _, tc := range []struct{ a, b, want float64 }{
		{2, 1, 2}, {1, 4, 0.25}, {0, 1, 0}, {1, 0, 0}, {-1, 1, 0}, {math.Inf(1), 1, 0},
	} {
		if got := ratio(tc.a, tc.b); got != tc.want {
			t.Errorf("ratio(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func sampleReport() *Report {
	r := &Report{Prefixes: 1000, Runs: 3, Baseline: Closd, CPUs: 2, Daemons: []DaemonResult{
		{Daemon: Closd, Version: "devel", Status: StatusOK, Runs: []Metrics{
			{LoadS: 1, PrefixesPerS: 1000, WithdrawS: 0.5, PssMiB: 10, CPUS: 1},
			{LoadS: 2, PrefixesPerS: 500, WithdrawS: 0.4, PssMiB: 12, CPUS: 2},
			{LoadS: 3, PrefixesPerS: 333, WithdrawS: 0.6, PssMiB: 11, CPUS: 3},
		}},
		{Daemon: FRR, Version: "8.4.4", Status: StatusOK, Runs: []Metrics{
			{LoadS: 4, PrefixesPerS: 250, WithdrawS: 1, PssMiB: 33, CPUS: 4},
			{LoadS: 4, PrefixesPerS: 250, WithdrawS: 1, PssMiB: 33, CPUS: 4},
			{LoadS: 4, PrefixesPerS: 250, WithdrawS: 1, PssMiB: 33, CPUS: 4},
		}},
		{Daemon: BIRD, Status: StatusSkipped, Reason: "bird is not installed; apt-get install bird2"},
		{Daemon: GoBGP, Version: "3.10.0", Status: StatusFailed, Reason: "run 1: load: timed out after 1m0s", Runs: []Metrics{{LoadS: 9}}},
	}}
	r.Finish()
	return r
}

func TestFinishRatiosAgainstBaseline(t *testing.T) {
	r := sampleReport()
	c, f := r.Daemons[0], r.Daemons[1]
	if c.Median.LoadS != 2 || c.Min.LoadS != 1 || c.Max.LoadS != 3 || c.Median.PssMiB != 11 {
		t.Errorf("closd summary: median %+v min %+v max %+v", c.Median, c.Min, c.Max)
	}
	if c.Ratio == nil || c.Ratio.LoadS != 1 {
		t.Errorf("closd's ratio to itself: %+v", c.Ratio)
	}
	if f.Ratio == nil || f.Ratio.LoadS != 2 || f.Ratio.PssMiB != 3 || f.Ratio.PrefixesPerS != 0.5 || f.Ratio.CPUS != 2 {
		t.Errorf("frr ratio: %+v", f.Ratio)
	}
	if r.Daemons[2].Ratio != nil || r.Daemons[3].Ratio != nil {
		t.Error("a skipped or failed daemon got ratios")
	}
	// No baseline result: no ratios at all.
	r.Daemons[0].Status = StatusFailed
	r.Finish()
	if r.Daemons[1].Ratio != nil {
		t.Error("ratios without a baseline")
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"1000 prefixes, 3 runs (median ±half the range)",
		"daemon", "prefixes/s", "PSS MiB",
		"closd", "2.00 ±50%", // load median 2, range 1..3
		"frr", "4.00 ±0% (x2.00)", "33.0 ±0% (x3.00)", "250 ±0% (x0.50)",
		"bird    -        skipped ",
		"bird skipped: bird is not installed; apt-get install bird2",
		"gobgp failed: run 1: load: timed out",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "(x1.00)") {
		t.Errorf("the baseline shows a ratio to itself:\n%s", out)
	}
}

func TestWriteTableFIBColumn(t *testing.T) {
	r := &Report{Prefixes: 10, Runs: 1, FIB: true, Baseline: Closd, Daemons: []DaemonResult{
		{Daemon: Closd, Status: StatusOK, FIB: true, Runs: []Metrics{{LoadS: 1, FIBS: 1.5, PrefixesPerS: 10}}},
		{Daemon: GoBGP, Status: StatusOK, Runs: []Metrics{{LoadS: 2, PrefixesPerS: 5}}},
	}}
	r.Finish()
	var b bytes.Buffer
	r.WriteTable(&b)
	out := b.String()
	if !strings.Contains(out, "FIB s") || !strings.Contains(out, "1.50") {
		t.Errorf("no FIB time:\n%s", out)
	}
	gobgpLine := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "gobgp") {
			gobgpLine = l
		}
	}
	// daemon version load (ratio) prefixes/s (ratio) FIB-s ...
	if f := strings.Fields(gobgpLine); len(f) < 7 || f[6] != "-" {
		t.Errorf("GoBGP, which programs no kernel, has a FIB time:\n%s", out)
	}
	r.FIB = false
	b.Reset()
	r.WriteTable(&b)
	if strings.Contains(b.String(), "FIB s") {
		t.Errorf("FIB time column without --fib:\n%s", b.String())
	}
}

func TestReportJSON(t *testing.T) {
	b, err := json.Marshal(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Baseline string `json:"baseline"`
		Daemons  []struct {
			Daemon string   `json:"daemon"`
			Status string   `json:"status"`
			Median *Metrics `json:"median"`
			Ratio  *Metrics `json:"ratio_vs_baseline"`
		} `json:"daemons"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Baseline != Closd || len(back.Daemons) != 4 || back.Daemons[1].Ratio.LoadS != 2 || back.Daemons[2].Status != StatusSkipped || back.Daemons[2].Median != nil {
		t.Errorf("JSON: %s", b)
	}
}

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		v      float64
		digits int
		want   string
	}{{1.234, 2, "1.23"}, {0.0123, 2, "0.012"}, {0.0004, 2, "0.000"}, {12.34, 1, "12.3"}, {0.05, 1, "0.050"}, {123456.7, 0, "123,457"}} {
		if got := formatValue(tc.v, tc.digits); got != tc.want {
			t.Errorf("formatValue(%v, %d) = %q, want %q", tc.v, tc.digits, got, tc.want)
		}
	}
}

func TestGroupThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := groupThousands(n); got != want {
			t.Errorf("groupThousands(%d) = %q, want %q", n, got, want)
		}
	}
}
