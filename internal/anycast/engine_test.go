package anycast

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv/ddtest"
	"github.com/cockroachdb/datadriven"
)

func formatAction(a Action) string {
	switch a := a.(type) {
	case RunCheck:
		return fmt.Sprintf("run %s id=%d deadline=%s", a.Service, a.ID, ddtest.Rel(a.Deadline))
	case Announce:
		s := fmt.Sprintf("announce %s %v", a.Service, a.Prefix)
		if a.GracefulShutdown {
			s += " gshut"
		}
		if a.Prepend > 0 {
			s += fmt.Sprintf(" prepend=%d", a.Prepend)
		}
		if a.LinkBandwidth > 0 {
			s += fmt.Sprintf(" lbw=%g", a.LinkBandwidth)
		}
		return s
	case Withdraw:
		return fmt.Sprintf("withdraw %s %v", a.Service, a.Prefix)
	case StateChange:
		return fmt.Sprintf("state %s %s/%s announced=%v: %s", a.Service, a.Health, a.Admin, a.Announced, a.Reason)
	}
	return fmt.Sprintf("unknown %#v", a)
}

func parseBool(d *datadriven.TestData, t *testing.T, v string) bool {
	b, err := strconv.ParseBool(v)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return b
}

// parseConfig reads "config" arguments (config-wide) and one line per
// service: "NAME addr=P[,P] [kind=K target=T] [interval=D] [timeout=D]
// [rise=N] [fall=N] [weight=N] [drain-time=D prepend=N gshut=B]".
func parseConfig(t *testing.T, d *datadriven.TestData) Config {
	var cfg Config
	for _, arg := range d.CmdArgs {
		v := ""
		if len(arg.Vals) > 0 {
			v = arg.Vals[0]
		}
		switch arg.Key {
		case "t":
		case "history":
			cfg.History = ddtest.Int(t, d, arg.Key, v)
		case "drain-time":
			cfg.Drain.Time = ddtest.Duration(t, d, arg.Key, v)
		case "prepend":
			cfg.Drain.Prepend = ddtest.Int(t, d, arg.Key, v)
		case "gshut":
			cfg.Drain.GracefulShutdown = parseBool(d, t, v)
		default:
			d.Fatalf(t, "unknown config key %s", arg.Key)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		s := Service{Name: f[0], Check: CheckSpec{Kind: CheckTCP, Address: "127.0.0.1:53"}}
		var drain DrainSpec
		hasDrain := false
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			dur := func() time.Duration { return ddtest.Duration(t, d, k, v) }
			atoi := func() int { return ddtest.Int(t, d, k, v) }
			switch k {
			case "addr":
				for _, p := range strings.Split(v, ",") {
					pp, err := netip.ParsePrefix(p)
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
					s.Addresses = append(s.Addresses, pp)
				}
			case "kind":
				s.Check.Kind = CheckKind(v)
			case "target":
				s.Check.Address = v
			case "interval":
				s.Interval = dur()
			case "timeout":
				s.Timeout = dur()
			case "rise":
				s.Rise = atoi()
			case "fall":
				s.Fall = atoi()
			case "weight":
				s.Weight = uint64(atoi())
			case "drain-time":
				drain.Time, hasDrain = dur(), true
			case "prepend":
				drain.Prepend, hasDrain = atoi(), true
			case "gshut":
				drain.GracefulShutdown, hasDrain = parseBool(d, t, v), true
			default:
				d.Fatalf(t, "unknown service key %s", k)
			}
		}
		if hasDrain {
			s.Drain = &drain
		}
		cfg.Services = append(cfg.Services, s)
	}
	return cfg
}

// harness plays the daemon loop on a fake clock: it remembers the checks
// the engine asked for and, for services put on autopilot, answers them.
type harness struct {
	e       *Engine
	now     time.Time
	pending map[string]RunCheck // last RunCheck per service not yet answered
	auto    map[string]autoMode
	queued  []queuedResult
	out     strings.Builder
}

type autoMode struct {
	script string // characters: p pass, f fail, h hang; cycles
	pos    int
	after  time.Duration
}

type queuedResult struct {
	at time.Time
	r  CheckResult
}

func (h *harness) emit(now time.Time, acts []Action) {
	for _, a := range acts {
		fmt.Fprintf(&h.out, "%s %s\n", ddtest.Rel(now), formatAction(a))
		if rc, ok := a.(RunCheck); ok {
			h.pending[rc.Service] = rc
			if m, ok := h.auto[rc.Service]; ok && m.script != "" {
				c := m.script[m.pos%len(m.script)]
				m.pos++
				h.auto[rc.Service] = m
				if c != 'h' {
					h.queued = append(h.queued, queuedResult{at: now.Add(m.after), r: CheckResult{
						Service: rc.Service, ID: rc.ID, OK: c == 'p', Detail: map[byte]string{'p': "ok", 'f': "refused"}[c], Duration: m.after,
					}})
				}
			}
		}
	}
}

func (h *harness) step(now time.Time, ev Event) {
	h.now = now
	h.emit(now, h.e.Step(now, ev))
}

// advance runs the fake clock to until, stepping at every engine deadline
// and delivering queued results in time order.
func (h *harness) advance(t *testing.T, until time.Time) {
	for i := 0; ; i++ {
		if i > 100000 {
			t.Fatal("advance does not converge")
		}
		next, ok := h.e.NextDeadline()
		isResult := false
		sort.SliceStable(h.queued, func(a, b int) bool { return h.queued[a].at.Before(h.queued[b].at) })
		if len(h.queued) > 0 && (!ok || !next.Before(h.queued[0].at)) {
			next, ok, isResult = h.queued[0].at, true, true
		}
		if !ok || next.After(until) {
			break
		}
		if next.Before(h.now) {
			next = h.now
		}
		if isResult {
			q := h.queued[0]
			h.queued = h.queued[1:]
			h.step(next, q.r)
		} else {
			h.step(next, Tick{})
		}
	}
	h.now = until
}

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		h := &harness{now: ddtest.Epoch}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			h.out.Reset()
			now := ddtest.Now(t, d, h.now)
			svc := func() string {
				var s string
				d.ScanArgs(t, "svc", &s)
				return s
			}
			switch d.Cmd {
			case "config":
				e, err := New(parseConfig(t, d))
				if err != nil {
					return "error: " + err.Error()
				}
				h.e = e
				h.pending = map[string]RunCheck{}
				h.auto = map[string]autoMode{}
				h.queued = nil
				h.step(now, Tick{})
			case "reconfig":
				h.advance(t, now)
				acts, err := h.e.Reconfigure(now, parseConfig(t, d))
				if err != nil {
					return "error: " + err.Error()
				}
				h.now = now
				h.emit(now, acts)
			case "tick":
				h.advance(t, now)
				h.step(now, Tick{})
			case "jump":
				// A loop that was late: one Step, no deadlines in between.
				h.step(now, Tick{})
			case "advance":
				h.advance(t, now)
			case "pass", "fail":
				name := svc()
				h.advance(t, now)
				rc := h.pending[name]
				id := rc.ID
				if d.HasArg("id") {
					d.ScanArgs(t, "id", &id)
				}
				detail := "ok"
				if d.Cmd == "fail" {
					detail = "connection refused"
				}
				if d.HasArg("detail") {
					d.ScanArgs(t, "detail", &detail)
				}
				h.step(now, CheckResult{Service: name, ID: id, OK: d.Cmd == "pass", Detail: detail, Duration: now.Sub(rc.Deadline.Add(-h.e.svcs[name].cfg.Timeout))})
			case "auto":
				var script string
				d.ScanArgs(t, "script", &script)
				m := autoMode{script: script, after: 10 * time.Millisecond}
				if d.HasArg("after") {
					var s string
					d.ScanArgs(t, "after", &s)
					m.after = ddtest.Duration(t, d, "after", s)
				}
				h.auto[svc()] = m
				return "ok"
			case "drain", "undrain":
				h.advance(t, now)
				all := d.HasArg("all")
				name := ""
				if !all {
					name = svc()
				}
				if d.Cmd == "drain" {
					h.step(now, Drain{Service: name, All: all})
				} else {
					h.step(now, Undrain{Service: name, All: all})
				}
			case "status":
				st, ok := h.e.Service(svc())
				if !ok {
					return "no such service"
				}
				fmt.Fprintf(&h.out, "%s/%s announced=%v passes=%d failures=%d in-flight=%v next=%s drain-until=%s since=%s\nreason: %s\n",
					st.Health, st.Admin, st.Announced, st.Passes, st.Failures, st.InFlight, ddtest.Rel(st.NextCheck), ddtest.Rel(st.DrainUntil), ddtest.Rel(st.Since), st.Reason)
				for _, r := range st.History {
					fmt.Fprintf(&h.out, "  %s id=%d ok=%v %s (%v)\n", ddtest.Rel(r.At), r.ID, r.OK, r.Detail, r.Duration)
				}
			case "next":
				dl, ok := h.e.NextDeadline()
				if !ok {
					return "none"
				}
				return ddtest.Rel(dl)
			default:
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			if h.out.Len() == 0 {
				return "ok"
			}
			return h.out.String()
		})
	})
}
