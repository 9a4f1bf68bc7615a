package neigh

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv/ddtest"
	"github.com/cockroachdb/datadriven"
)

func formatCommunity(c uint32) string { return fmt.Sprintf("%d:%d", c>>16, c&0xffff) }

func formatAction(a Action) string {
	switch a := a.(type) {
	case Originate:
		s := fmt.Sprintf("originate %v if=%s mac=%v seq=%d", a.Prefix, a.Interface, a.MAC, a.Seq)
		if a.Sticky {
			s += " sticky"
		}
		if a.Community != 0 {
			s += " community=" + formatCommunity(a.Community)
		}
		return s
	case Withdraw:
		return fmt.Sprintf("withdraw %v if=%s", a.Prefix, a.Interface)
	case Probe:
		return fmt.Sprintf("probe %s %v mac=%v attempt=%d", a.Interface, a.IP, a.MAC, a.Attempt)
	case SetKernelTimers:
		return fmt.Sprintf("timers %s reachable=%v retrans=%v gc-stale=%v ucast-solicit=%d", a.Interface, a.BaseReachable, a.RetransTime, a.GCStale, a.UcastSolicit)
	case Log:
		return fmt.Sprintf("log %s %s %v: %s", a.Kind, a.Interface, a.IP, a.Msg)
	case Conflict:
		return fmt.Sprintf("conflict %v if=%s other=%s: %s", a.IP, a.Interface, a.Other, a.Msg)
	case Freeze:
		if a.Frozen {
			return fmt.Sprintf("freeze %v if=%s until=%s moves=%d", a.IP, a.Interface, ddtest.Rel(a.Until), a.Moves)
		}
		return fmt.Sprintf("unfreeze %v if=%s", a.IP, a.Interface)
	}
	return fmt.Sprintf("unknown %#v", a)
}

func parseConfig(t *testing.T, d *datadriven.TestData) Config {
	var cfg Config
	for _, arg := range d.CmdArgs {
		v := ""
		if len(arg.Vals) > 0 {
			v = arg.Vals[0]
		}
		dur := func() time.Duration { return ddtest.Duration(t, d, arg.Key, v) }
		atoi := func() int { return ddtest.Int(t, d, arg.Key, v) }
		switch arg.Key {
		case "t":
		case "aging":
			cfg.AgingTime = dur()
		case "probe-interval":
			cfg.ProbeInterval = dur()
		case "probe-retries":
			cfg.ProbeRetries = atoi()
		case "moves":
			cfg.MoveLimit = atoi()
		case "window":
			cfg.MoveWindow = dur()
		case "hold":
			cfg.FreezeHold = dur()
		case "community":
			a, b, _ := strings.Cut(v, ":")
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			cfg.Community = uint32(x)<<16 | uint32(y)
		case "multihomed":
			cfg.Multihomed = true
		case "gw4":
			cfg.Gateway.IPv4 = netip.MustParsePrefix(v)
		case "gw6":
			cfg.Gateway.IPv6 = netip.MustParsePrefix(v)
		default:
			d.Fatalf(t, "unknown config key %s", arg.Key)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "if" {
			d.Fatalf(t, "want 'if NAME allow=P,P [max=N] [static=IP@MAC,...]', got %q", line)
		}
		ic := InterfaceConfig{Name: f[1]}
		for _, kv := range f[2:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "allow":
				for _, p := range strings.Split(v, ",") {
					ic.Allowed = append(ic.Allowed, netip.MustParsePrefix(p))
				}
			case "max":
				ic.MaxHosts, _ = strconv.Atoi(v)
			case "static":
				for _, s := range strings.Split(v, ",") {
					ip, m, _ := strings.Cut(s, "@")
					mac, err := ParseMAC(m)
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
					ic.Static = append(ic.Static, StaticBinding{IP: netip.MustParseAddr(ip), MAC: mac})
				}
			default:
				d.Fatalf(t, "unknown interface key %s", k)
			}
		}
		cfg.Interfaces = append(cfg.Interfaces, ic)
	}
	return cfg
}

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		var e *Engine
		now := ddtest.Epoch
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			now = ddtest.Now(t, d, now)
			str := func(key string) string {
				var s string
				d.ScanArgs(t, key, &s)
				return s
			}
			var acts []Action
			switch d.Cmd {
			case "config":
				var err error
				e, err = New(parseConfig(t, d))
				if err != nil {
					return "error: " + err.Error()
				}
				acts = e.Start()
			case "reconfig":
				var err error
				acts, err = e.Reconfigure(now, parseConfig(t, d))
				if err != nil {
					return "error: " + err.Error()
				}
			case "neigh":
				st, err := ParseNUDState(str("state"))
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				var mac MAC
				if d.HasArg("mac") {
					mac, err = ParseMAC(str("mac"))
					if err != nil {
						d.Fatalf(t, "%v", err)
					}
				}
				acts = e.Step(now, NeighEvent{Interface: str("if"), IP: netip.MustParseAddr(str("ip")), MAC: mac, State: st})
			case "remote":
				var seq uint64
				d.ScanArgs(t, "seq", &seq)
				acts = e.Step(now, RemoteRoute{Prefix: netip.MustParsePrefix(str("prefix")), Seq: uint32(seq), Sticky: d.HasArg("sticky")})
			case "unremote":
				acts = e.Step(now, RemoteWithdraw{Prefix: netip.MustParsePrefix(str("prefix"))})
			case "link":
				acts = e.Step(now, LinkEvent{Interface: str("if"), Up: d.HasArg("up")})
			case "release":
				var ip netip.Addr
				if d.HasArg("ip") {
					ip = netip.MustParseAddr(str("ip"))
				}
				acts = e.Step(now, AdminRelease{IP: ip})
			case "tick":
				acts = e.Step(now, Tick{})
			case "run":
				// Fire every deadline up to "until", as the daemon loop
				// would, and show when each action happened.
				var until string
				d.ScanArgs(t, "until", &until)
				end := ddtest.Epoch.Add(ddtest.Duration(t, d, "until", until))
				var b strings.Builder
				for range 1000 {
					dl, ok := e.NextDeadline()
					if !ok || dl.After(end) {
						break
					}
					if dl.After(now) {
						now = dl
					}
					for _, a := range e.Step(now, Tick{}) {
						fmt.Fprintf(&b, "%s %s\n", ddtest.Rel(now), formatAction(a))
					}
					if err := e.checkInvariants(); err != nil {
						d.Fatalf(t, "invariant: %v", err)
					}
				}
				now = end
				if b.Len() == 0 {
					return "(no actions)"
				}
				return b.String()
			case "hosts":
				var b strings.Builder
				for _, h := range e.Hosts(now) {
					fmt.Fprintf(&b, "%v if=%s mac=%v state=%s kernel=%v seq=%d age=%gs", h.IP, h.Interface, h.MAC, h.State, h.KernelState, h.Seq, h.AgeSeconds)
					if h.Frozen {
						fmt.Fprintf(&b, " frozen-until=%s", ddtest.Rel(h.FrozenUntil))
					}
					if h.Contender != "" {
						fmt.Fprintf(&b, " contender=%s", h.Contender)
					}
					b.WriteString("\n")
				}
				for _, f := range e.Frozen() {
					fmt.Fprintf(&b, "frozen %v local=%v until=%s moves=%d\n", f.IP, f.Local, ddtest.Rel(f.Until), f.Moves)
				}
				if b.Len() == 0 {
					return "(none)"
				}
				return b.String()
			case "deadline":
				dl, ok := e.NextDeadline()
				if !ok {
					return "none"
				}
				return ddtest.Rel(dl)
			case "stats":
				s := e.Stats()
				return fmt.Sprintf("learned=%d withdrawn=%d probes=%d moves=%d freezes=%d conflicts=%d rejected=%d remote=%d",
					s.Learned, s.Withdrawn, s.Probes, s.Moves, s.Freezes, s.Conflicts, s.Rejected, s.RemoteRoutes)
			default:
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			if err := e.checkInvariants(); err != nil {
				d.Fatalf(t, "invariant: %v", err)
			}
			var b strings.Builder
			for _, a := range acts {
				b.WriteString(formatAction(a))
				b.WriteString("\n")
			}
			if b.Len() == 0 {
				return "(no actions)"
			}
			return b.String()
		})
	})
}
