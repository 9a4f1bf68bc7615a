package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// Metrics are one run's measurements of one daemon, or a statistic of
// several runs.
type Metrics struct {
	// FIBS is from the feeder's first UPDATE until the kernel held a route
	// for every prefix (with --fib, for daemons that program it); sampled
	// every 100 ms once the sink held them all, so never below LoadS.
	FIBS float64 `json:"fib_s,omitempty"`
	// LoadS is from the feeder's first UPDATE until the sink held every
	// prefix (the End-of-RIB-equivalent: the DUT has passed on the table).
	LoadS float64 `json:"load_s"`
	// PrefixesPerS is prefixes / LoadS.
	PrefixesPerS float64 `json:"prefixes_per_s"`
	// WithdrawS is from the first withdrawal until the sink held none.
	WithdrawS float64 `json:"withdraw_s"`
	// PssMiB is the DUT's proportional set size with the table loaded,
	// summed over its processes.
	PssMiB float64 `json:"pss_mib"`
	// IdlePssMiB is the same before the load, sessions up: PssMiB minus
	// IdlePssMiB is what the table costs.
	IdlePssMiB float64 `json:"idle_pss_mib"`
	// CPUS is CPULoadS + CPUWithdrawS: user and system time of the DUT's
	// processes in both phases, each phase running until the DUT is idle.
	CPUS         float64 `json:"cpu_s"`
	CPULoadS     float64 `json:"cpu_load_s"`
	CPUWithdrawS float64 `json:"cpu_withdraw_s"`
	// CPUUpS is the DUT's CPU time from its start until the load began
	// (sessions up, settled).
	CPUUpS float64 `json:"cpu_up_s"`
	// SinkUpdates is how many UPDATEs carried the table to the sink: how
	// densely the DUT packs what it passes on.
	SinkUpdates float64 `json:"sink_updates"`
}

// metric names a field of Metrics for the statistics and the table.
type metric struct {
	name   string
	get    func(*Metrics) *float64
	digits int
	// fibOnly: a column only in a report with --fib.
	fibOnly bool
}

var metrics = []metric{
	{"load s", func(m *Metrics) *float64 { return &m.LoadS }, 2, false},
	{"prefixes/s", func(m *Metrics) *float64 { return &m.PrefixesPerS }, 0, false},
	{"FIB s", func(m *Metrics) *float64 { return &m.FIBS }, 2, true},
	{"withdraw s", func(m *Metrics) *float64 { return &m.WithdrawS }, 2, false},
	{"PSS MiB", func(m *Metrics) *float64 { return &m.PssMiB }, 1, false},
	{"CPU s", func(m *Metrics) *float64 { return &m.CPUS }, 2, false},
	{"", func(m *Metrics) *float64 { return &m.IdlePssMiB }, 1, false},
	{"", func(m *Metrics) *float64 { return &m.CPULoadS }, 2, false},
	{"", func(m *Metrics) *float64 { return &m.CPUWithdrawS }, 2, false},
	{"", func(m *Metrics) *float64 { return &m.CPUUpS }, 2, false},
	{"", func(m *Metrics) *float64 { return &m.SinkUpdates }, 0, false},
}

// Status of one daemon in a report.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// DaemonResult is one daemon's part of a report.
type DaemonResult struct {
	Daemon  string `json:"daemon"`
	Version string `json:"version,omitempty"`
	Status  string `json:"status"`
	// Reason says why a daemon was skipped (with the Debian package to
	// install) or how its run failed.
	Reason string `json:"reason,omitempty"`
	// FIB is true when the daemon programmed the kernel's routing table
	// during the runs.
	FIB  bool      `json:"fib"`
	Runs []Metrics `json:"runs,omitempty"`
	// Median, Min and Max over Runs.
	Median *Metrics `json:"median,omitempty"`
	Min    *Metrics `json:"min,omitempty"`
	Max    *Metrics `json:"max,omitempty"`
	// Ratio is Median divided by the baseline's Median, field by field
	// (zero where either is missing).
	Ratio *Metrics `json:"ratio_vs_baseline,omitempty"`
}

// Report is the result of clos bench.
type Report struct {
	Prefixes int  `json:"prefixes"`
	Runs     int  `json:"runs"`
	ECMP     bool `json:"ecmp"`
	FIB      bool `json:"fib"`
	// Baseline is the daemon the ratios divide by (closd).
	Baseline string         `json:"baseline"`
	CPUs     int            `json:"cpus"`
	Daemons  []DaemonResult `json:"daemons"`
}

// summarize fills Median, Min and Max from Runs.
func (d *DaemonResult) summarize() {
	if len(d.Runs) == 0 {
		d.Median, d.Min, d.Max = nil, nil, nil
		return
	}
	var med, lo, hi Metrics
	for _, m := range metrics {
		vals := make([]float64, len(d.Runs))
		for i := range d.Runs {
			vals[i] = *m.get(&d.Runs[i])
		}
		*m.get(&med), *m.get(&lo), *m.get(&hi) = median(vals), minOf(vals), maxOf(vals)
	}
	d.Median, d.Min, d.Max = &med, &lo, &hi
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

// ratio is a/b, or 0 when either is not a positive number.
func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return 0
	}
	return a / b
}

// Finish summarizes every daemon and computes the ratios against the
// baseline daemon, when it has results.
func (r *Report) Finish() {
	var base *Metrics
	for i := range r.Daemons {
		d := &r.Daemons[i]
		d.summarize()
		if d.Daemon == r.Baseline && d.Status == StatusOK {
			base = d.Median
		}
	}
	for i := range r.Daemons {
		d := &r.Daemons[i]
		d.Ratio = nil
		if base == nil || d.Median == nil || d.Status != StatusOK {
			continue
		}
		var q Metrics
		for _, m := range metrics {
			*m.get(&q) = ratio(*m.get(d.Median), *m.get(base))
		}
		d.Ratio = &q
	}
}

// WriteTable prints the report as a table: the median of each metric
// (with its spread over several runs) and, beside it, the ratio to the
// baseline daemon.
func (r *Report) WriteTable(w io.Writer) error {
	runs := "1 run"
	if r.Runs != 1 {
		runs = fmt.Sprintf("%d runs (median ±half the range)", r.Runs)
	}
	fib := "off: no daemon programs the kernel"
	if r.FIB {
		fib = "on for the daemons that can"
	}
	ecmp := ""
	if r.ECMP {
		ecmp = ", ECMP: two feeders announce every prefix"
	}
	fmt.Fprintf(w, "clos bench: %d prefixes, %s, FIB %s%s, %d CPUs\n\n", r.Prefixes, runs, fib, ecmp, r.CPUs)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	head := []string{"daemon", "version"}
	cols := r.columns()
	for _, m := range cols {
		head = append(head, m.name)
	}
	head = append(head, "FIB")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	var notes []string
	for _, d := range r.Daemons {
		row := []string{d.Daemon, orDash(d.Version)}
		if d.Status != StatusOK || d.Median == nil {
			row = append(row, d.Status)
			// Empty cells keep the row in the table's columns.
			for len(row) < len(head) {
				row = append(row, "")
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
			notes = append(notes, fmt.Sprintf("%s %s: %s", d.Daemon, d.Status, d.Reason))
			continue
		}
		for _, m := range cols {
			if m.fibOnly && !d.FIB {
				row = append(row, "-")
				continue
			}
			cell := formatValue(*m.get(d.Median), m.digits)
			if len(d.Runs) > 1 {
				cell += spread(*m.get(d.Median), *m.get(d.Min), *m.get(d.Max))
			}
			if d.Ratio != nil && d.Daemon != r.Baseline {
				if q := *m.get(d.Ratio); q > 0 {
					cell += fmt.Sprintf(" (x%.2f)", q)
				}
			}
			row = append(row, cell)
		}
		row = append(row, yesNo(d.FIB))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n(xN) is the daemon's value divided by %s's: above 1 means %s is faster, smaller or cheaper,\nexcept for prefixes/s where above 1 means the daemon is faster than %s.\n", r.Baseline, r.Baseline, r.Baseline)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return nil
}

// columns are the metrics the table shows.
func (r *Report) columns() []metric {
	var out []metric
	for _, m := range metrics {
		if m.name != "" && (!m.fibOnly || r.FIB) {
			out = append(out, m)
		}
	}
	return out
}

func formatValue(v float64, digits int) string {
	if digits == 0 {
		return groupThousands(int64(math.Round(v)))
	}
	// Small values keep three decimals: a fast daemon's 0.012 s must not
	// read as 0.01 or 0.00.
	if v < 0.1 {
		digits = 3
	}
	return fmt.Sprintf("%.*f", digits, v)
}

// groupThousands writes n with commas between groups of three digits.
func groupThousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// spread is half the range of the runs as a percentage of the median.
func spread(med, lo, hi float64) string {
	if med <= 0 {
		return ""
	}
	return fmt.Sprintf(" ±%.0f%%", (hi-lo)/2/med*100)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
