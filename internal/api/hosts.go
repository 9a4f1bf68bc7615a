package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/daemon"
)

// HostsBackend is what the host-route endpoints read; *daemon.Daemon
// implements it.
type HostsBackend interface {
	Hosts(ctx context.Context) (daemon.HostsStatus, error)
	ReleaseHost(ctx context.Context, ip netip.Addr) ([]netip.Addr, error)
}

// Host-route endpoints.
const (
	HostsPath        = "/v1/hosts"
	HostsReleasePath = "/v1/hosts/release"
)

// ReleaseRequest is the body of a release: IP "all" releases every
// frozen host.
type ReleaseRequest struct {
	IP string `json:"ip"`
}

// Released is the answer of a release.
type Released struct {
	Released []netip.Addr `json:"released"`
}

func hostsBackend(b Backend) (HostsBackend, error) {
	hb, ok := b.(HostsBackend)
	if !ok {
		return nil, Errorf(http.StatusNotImplemented, "this closd has no host routes")
	}
	return hb, nil
}

func hostsErr(err error) error {
	if errors.Is(err, daemon.ErrNoHosts) {
		return Errorf(http.StatusNotFound, "%v", err)
	}
	return err
}

func init() {
	RegisterEndpoint(Endpoint{
		Path:    HostsPath,
		Summary: "hosts learned from ARP/ND: interface, MAC, state, mobility sequence, age, frozen",
		Get: func(ctx context.Context, b Backend, _ *http.Request) (any, error) {
			hb, err := hostsBackend(b)
			if err != nil {
				return nil, err
			}
			st, err := hb.Hosts(ctx)
			return st, hostsErr(err)
		},
	})
	RegisterAction(Action{
		Path:    HostsReleasePath,
		Summary: `unfreeze a host frozen by flap detection: {"ip": "10.1.0.10"} or {"ip": "all"}`,
		Post: func(ctx context.Context, b Backend, body []byte) (any, error) {
			hb, err := hostsBackend(b)
			if err != nil {
				return nil, err
			}
			var req ReleaseRequest
			if err := json.Unmarshal(body, &req); err != nil {
				return nil, Errorf(http.StatusBadRequest, "body: %v; want {\"ip\": \"10.1.0.10\"} or {\"ip\": \"all\"}", err)
			}
			var ip netip.Addr
			if req.IP != "all" {
				ip, err = netip.ParseAddr(req.IP)
				if err != nil || ip.Zone() != "" {
					return nil, Errorf(http.StatusBadRequest, "ip %q: want a host address like 10.1.0.10, or all", req.IP)
				}
			}
			rel, err := hb.ReleaseHost(ctx, ip)
			if err != nil {
				return nil, hostsErr(err)
			}
			if rel == nil {
				rel = []netip.Addr{}
			}
			return Released{Released: rel}, nil
		},
	})
}

// RenderHosts writes the learned hosts as a table, then frozen addresses
// not held here and the counters.
func RenderHosts(w io.Writer, s daemon.HostsStatus) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Host routes on %s; %d hosts\n\n", strings.Join(s.Interfaces, ", "), len(s.Hosts))
	t := table{align: "lllllrrrl"}
	t.add("Address", "Interface", "MAC", "State", "Kernel", "Seq", "Remote", "Age", "Frozen")
	for _, h := range s.Hosts {
		seq := strconv.FormatUint(uint64(h.Seq), 10)
		if h.Sticky {
			seq += "s"
		}
		remote := "-"
		if h.RemoteSeq != nil {
			remote = strconv.FormatUint(uint64(*h.RemoteSeq), 10)
		}
		state := h.State
		if h.State == "probing" {
			state = fmt.Sprintf("probing(%d)", h.ProbeAttempts)
		}
		frozen := "no"
		if h.Frozen {
			frozen = "until " + h.FrozenUntil.UTC().Format(time.TimeOnly)
		}
		t.add(h.IP.String(), h.Interface, h.MAC.String(), state, h.KernelState.String(), seq, remote,
			age(time.Duration(h.AgeSeconds*float64(time.Second))), frozen)
	}
	t.write(&b)
	var elsewhere []string
	for _, f := range s.Frozen {
		if !f.Local {
			elsewhere = append(elsewhere, fmt.Sprintf("%s (until %s)", f.IP, f.Until.UTC().Format(time.TimeOnly)))
		}
	}
	if len(elsewhere) > 0 {
		fmt.Fprintf(&b, "\nFrozen, not held here: %s\n", strings.Join(elsewhere, ", "))
	}
	e, c := s.Engine, s.Counters
	fmt.Fprintf(&b, "\nLearned %d, withdrawn %d, moves %d, freezes %d, conflicts %d, rejected %d, probes %d, remote host routes %d\n",
		e.Learned, e.Withdrawn, e.Moves, e.Freezes, e.Conflicts, e.Rejected, e.Probes, e.RemoteRoutes)
	if c.KernelErrors+c.RouteErrors+c.WatcherFailures > 0 || !s.Watching {
		fmt.Fprintf(&b, "Kernel errors %d, route errors %d, watcher failures %d, watching %v\n", c.KernelErrors, c.RouteErrors, c.WatcherFailures, s.Watching)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// age is a compact duration: 42s, 5m03s, 2h10m, 3d04h.
func age(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
