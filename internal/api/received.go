package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/closnet/clos/internal/daemon"
)

// ReceivedBackend is what the received-routes endpoint reads;
// *daemon.Daemon implements it.
type ReceivedBackend interface {
	ReceivedRoutes(ctx context.Context, addr netip.Addr) (daemon.ReceivedRoutes, error)
}

// ReceivedRoutesPath lists a neighbor's routes before the import policy.
const ReceivedRoutesPath = "/v1/bgp/neighbors/{addr}/received-routes"

func init() {
	RegisterEndpoint(Endpoint{
		Path:    ReceivedRoutesPath,
		Summary: "a neighbor's routes as received, before the import policy (needs soft-reconfiguration-inbound)",
		Get: func(ctx context.Context, b Backend, r *http.Request) (any, error) {
			rb, ok := b.(ReceivedBackend)
			if !ok {
				return nil, Errorf(http.StatusNotImplemented, "this closd keeps no received routes")
			}
			addr, err := netip.ParseAddr(r.PathValue("addr"))
			if err != nil {
				return nil, Errorf(http.StatusBadRequest, "neighbor address %q: want an IPv4 or IPv6 address like 10.0.0.1", r.PathValue("addr"))
			}
			rr, err := rb.ReceivedRoutes(ctx, addr)
			switch {
			case errors.Is(err, daemon.ErrNoNeighbor):
				return nil, Errorf(http.StatusNotFound, "%v", err)
			case errors.Is(err, daemon.ErrNoSoftIn):
				return nil, Errorf(http.StatusConflict, "%v", err)
			}
			return rr, err
		},
	})
}

// RenderReceived writes a neighbor's received routes as FRR's `show bgp
// neighbor X received-routes` does.
func RenderReceived(w io.Writer, rr daemon.ReceivedRoutes) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Routes received from %s, before the import policy\n", rr.Neighbor)
	if !rr.Established {
		b.WriteString("(no session established)\n")
	}
	b.WriteString("\n")
	t := table{align: "lllrrrl"}
	t.add("Family", "Network", "Next Hop", "Metric", "LocPrf", "PathID", "Path")
	opt := func(v *uint32) string {
		if v == nil {
			return ""
		}
		return strconv.FormatUint(uint64(*v), 10)
	}
	for _, r := range rr.Routes {
		nh, path := r.NextHop.String(), r.ASPath
		if !r.NextHop.IsValid() {
			nh = "-"
		}
		if path == "" {
			path = "(empty)"
		}
		pid := ""
		if r.PathID != 0 {
			pid = strconv.FormatUint(uint64(r.PathID), 10)
		}
		t.add(r.Family, r.Prefix.String(), nh, opt(r.MED), opt(r.LocalPref), pid, path+" "+originCode(r.Origin))
	}
	t.write(&b)
	fmt.Fprintf(&b, "\nTotal number of prefixes %d\n", len(rr.Routes))
	_, err := io.WriteString(w, b.String())
	return err
}

func originCode(o string) string {
	switch o {
	case "igp":
		return "i"
	case "egp":
		return "e"
	}
	return "?"
}
