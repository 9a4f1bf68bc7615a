package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/daemon"
)

type fakeReceived struct {
	*fake
	rr daemon.ReceivedRoutes
}

func (f *fakeReceived) ReceivedRoutes(_ context.Context, addr netip.Addr) (daemon.ReceivedRoutes, error) {
	switch addr {
	case f.rr.Neighbor:
		return f.rr, nil
	case netip.MustParseAddr("10.1.0.5"):
		return daemon.ReceivedRoutes{}, fmt.Errorf("%w: %s", daemon.ErrNoSoftIn, addr)
	}
	return daemon.ReceivedRoutes{}, fmt.Errorf("%w %s", daemon.ErrNoNeighbor, addr)
}

func TestReceivedRoutesEndpoint(t *testing.T) {
	med := uint32(5)
	f := &fakeReceived{fake: fixture(), rr: daemon.ReceivedRoutes{Neighbor: netip.MustParseAddr("10.1.0.1"), Established: true,
		Routes: []daemon.ReceivedRoute{{Family: "ipv4-unicast", Prefix: netip.MustParsePrefix("10.2.1.0/24"),
			NextHop: netip.MustParseAddr("10.1.0.1"), ASPath: "65100", Origin: "igp", MED: &med}}}}
	h := NewHandler(f, info)
	for _, tc := range []struct {
		target string
		status int
		body   string
	}{
		{"/v1/bgp/neighbors/10.1.0.1/received-routes", 200, `"prefix": "10.2.1.0/24"`},
		{"/v1/bgp/neighbors/10.1.0.5/received-routes", 409, "soft-reconfiguration-inbound is not set"},
		{"/v1/bgp/neighbors/10.1.0.9/received-routes", 404, "no neighbor 10.1.0.9"},
		{"/v1/bgp/neighbors/nope/received-routes", 400, "want an IPv4 or IPv6 address"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("GET %s: %d %s; want %d with %q", tc.target, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
	rec := httptest.NewRecorder()
	NewHandler(fixture(), info).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/bgp/neighbors/10.1.0.1/received-routes", nil))
	if rec.Code != 501 {
		t.Errorf("backend without received routes: %d %s", rec.Code, rec.Body)
	}

	b, _ := json.Marshal(f.rr)
	var rr daemon.ReceivedRoutes
	if err := json.Unmarshal(b, &rr); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := RenderReceived(&out, rr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Routes received from 10.1.0.1, before the import policy", "10.2.1.0/24", "65100 i", "Total number of prefixes 1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("render lacks %q:\n%s", want, out.String())
		}
	}
}
