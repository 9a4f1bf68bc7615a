package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/daemon"
)

// Graceful restart (RFC 4724): GET /v1/bgp/graceful-restart for `clos show
// bgp graceful-restart`, our side (mode, timers, adopted kernel routes,
// restart phase) and each neighbor's capabilities and helper state.

// GRPath is the graceful restart endpoint; ?neighbor=ADDR keeps one
// neighbor, ?neighbor=IFNAME an unnumbered one.
const GRPath = "/v1/bgp/graceful-restart"

var _ GRBackend = (*daemon.Daemon)(nil)

// GRBackend is the daemon side of GET /v1/bgp/graceful-restart.
type GRBackend interface {
	GracefulRestartShow(ctx context.Context) (daemon.GRShow, error)
}

func init() {
	RegisterEndpoint(Endpoint{
		Path:    GRPath,
		Summary: "graceful restart: mode, timers, adopted kernel routes, restart phase; per neighbor the capabilities sent and received, helper state, End-of-RIB received (?neighbor=ADDR or IFNAME)",
		Get: func(ctx context.Context, b Backend, r *http.Request) (any, error) {
			gb, ok := b.(GRBackend)
			if !ok {
				return nil, Errorf(http.StatusNotImplemented, "this closd has no graceful restart state")
			}
			q := r.URL.Query().Get("neighbor")
			var addr netip.Addr
			if q != "" {
				a, err := netip.ParseAddr(q)
				switch {
				case err == nil:
					addr = a.WithZone("")
				case !bfdIfname.MatchString(q):
					return nil, Errorf(http.StatusBadRequest, "neighbor %s: want an IP address like 10.0.0.1 or fe80::1, or an interface like swp1", quote(q))
				}
			}
			st, err := gb.GracefulRestartShow(ctx)
			if err != nil || q == "" {
				return st, err
			}
			keep := []daemon.GRNeighbor{}
			var all []string
			for _, n := range st.Neighbors {
				all = append(all, grName(n))
				if (addr.IsValid() && n.Address.WithZone("") == addr) || (!addr.IsValid() && n.Interface == q) {
					keep = append(keep, n)
				}
			}
			var kept []daemon.GRKeptDynamic
			for _, k := range st.KeptDynamic {
				if addr.IsValid() && k.Address == addr {
					kept = append(kept, k)
				}
			}
			if len(keep) == 0 && len(kept) == 0 {
				if len(all) == 0 {
					all = []string{"(none)"}
				}
				return nil, Errorf(http.StatusNotFound, "no neighbor %s; neighbors: %s", q, strings.Join(all, ", "))
			}
			st.Neighbors, st.KeptDynamic = keep, kept
			return st, nil
		},
	})
}

// GRQuery is the GET path for one neighbor, or all when neighbor is empty.
func GRQuery(neighbor string) string {
	if neighbor == "" {
		return GRPath
	}
	return GRPath + "?neighbor=" + urlQueryEscape(neighbor)
}

func grName(n daemon.GRNeighbor) string {
	if n.Interface != "" {
		if n.Address.IsValid() {
			return n.Interface + " (" + n.Address.String() + ")"
		}
		return n.Interface
	}
	return n.Address.String()
}

func grSecs(s float64) string {
	return strconv.FormatFloat(s, 'f', -1, 64) + "s"
}

func grClock(t time.Time) string { return t.UTC().Format(time.TimeOnly) + " UTC" }

// grCap writes a capability as vtysh-like short flags: restart time, R,
// N, then each family with its F bit.
func grCap(c *daemon.GRCapability, withTime bool) string {
	if c == nil {
		return "none"
	}
	var b strings.Builder
	if withTime {
		fmt.Fprintf(&b, "%ds ", c.RestartTimeSeconds)
	}
	fmt.Fprintf(&b, "R=%d", bit(c.Restarting))
	if withTime {
		fmt.Fprintf(&b, " N=%d", bit(c.Notification))
	}
	if len(c.Families) == 0 {
		b.WriteString(" no families")
	}
	for _, f := range c.Families {
		fmt.Fprintf(&b, " %s:F=%d", f.Family, bit(f.ForwardingPreserved))
	}
	return b.String()
}

func bit(v bool) int {
	if v {
		return 1
	}
	return 0
}

// RenderGR writes our side, one line per neighbor with both capabilities,
// the helper state and the End-of-RIBs received, then what a neighbor's
// restart keeps.
func RenderGR(w io.Writer, s daemon.GRShow) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Graceful restart mode %s, restart-time %s, stalepath-time %s, select-defer-time %s\n",
		s.Mode, grSecs(s.RestartTimeSeconds), grSecs(s.StalepathTimeSeconds), grSecs(s.SelectDeferTimeSeconds))
	switch {
	case !s.FIB:
		b.WriteString("Kernel FIB not managed by closd: no routes adopted, no restart phase\n")
	case s.AdoptedRoutes == 0:
		b.WriteString("This start adopted no kernel routes: no restart phase, forwarding not preserved until a session is up\n")
	default:
		fmt.Fprintf(&b, "This start adopted %d kernel routes of the previous run\n", s.AdoptedRoutes)
	}
	switch s.Phase {
	case daemon.GRPhaseRunning:
		fmt.Fprintf(&b, "Restart phase running for %s (since %s), R bit %s; select-defer-time ends it at %s\n",
			grSecs(round3(s.PhaseSeconds)), grClock(s.PhaseStarted), onOff(s.Restarting), grClock(s.DeferUntil))
	case daemon.GRPhaseDone:
		fmt.Fprintf(&b, "Restart phase took %s (began %s)\n", grSecs(round3(s.PhaseSeconds)), grClock(s.PhaseStarted))
	}
	if len(s.Neighbors) == 0 {
		b.WriteString("\nNo neighbors\n")
		grKeptDynamic(&b, s.KeptDynamic)
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("\n")
	t := table{align: "lllllll"}
	t.add("Neighbor", "State", "Sent", "Received", "N", "Helper", "End-of-RIB rcvd")
	for _, n := range s.Neighbors {
		helper := "-"
		switch {
		case n.PeerRestarting:
			helper = "restarting, kept until " + grClock(n.RestartUntil)
		case n.WaitingEndOfRIB:
			helper = "stale until " + grClock(n.StaleUntil)
		}
		eor := "-"
		if len(n.EndOfRIB) > 0 {
			eor = strings.Join(n.EndOfRIB, ",")
		}
		sent := "off"
		if n.Sent != nil {
			sent = grCap(n.Sent, false)
		}
		nbit := "-"
		if n.NotificationNegotiated {
			nbit = "yes"
		}
		t.add(grName(n), n.State, sent, grCap(n.Received, true), nbit, helper, eor)
	}
	t.write(&b)
	var notes []string
	for _, n := range s.Neighbors {
		if len(n.StalePaths) > 0 {
			var fs []string
			for _, p := range n.StalePaths {
				fs = append(fs, fmt.Sprintf("%s %d", p.Family, p.Paths))
			}
			what := "waiting for its End-of-RIB"
			if n.PeerRestarting {
				what = "kept while it restarts"
			}
			notes = append(notes, fmt.Sprintf("%s: stale paths %s (%s)", grName(n), strings.Join(fs, ", "), what))
		}
		if n.HoldsPhase {
			notes = append(notes, grName(n)+": our restart phase waits for its session and End-of-RIB")
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	grKeptDynamic(&b, s.KeptDynamic)
	_, err := io.WriteString(w, b.String())
	return err
}

// grKeptDynamic lists the dynamic neighbors gone while restarting whose
// routes are kept.
func grKeptDynamic(b *strings.Builder, ks []daemon.GRKeptDynamic) {
	if len(ks) == 0 {
		return
	}
	b.WriteString("\nDynamic neighbors restarting, routes kept:\n")
	for _, k := range ks {
		var fs []string
		for _, p := range k.StalePaths {
			fs = append(fs, fmt.Sprintf("%s %d", p.Family, p.Paths))
		}
		stale := "none"
		if len(fs) > 0 {
			stale = strings.Join(fs, ", ")
		}
		fmt.Fprintf(b, "  %s (listen-range %s) kept until %s, stale paths %s\n", k.Address, k.ListenRange, grClock(k.RestartUntil), stale)
	}
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func onOff(v bool) string {
	if v {
		return "set"
	}
	return "clear"
}
