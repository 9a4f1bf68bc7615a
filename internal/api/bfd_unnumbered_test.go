package api

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/daemon"
)

// TestBFDByInterface: an unnumbered neighbor's session is found by its
// interface (`clos show bfd swp1`) as well as by the peer's link-local
// address; a name no session runs on lists the sessions there are.
func TestBFDByInterface(t *testing.T) {
	ll := netip.MustParseAddr("fe80::2")
	f := &fakeBFD{r: daemon.BFDReport{Sessions: []daemon.BFDSession{
		{Peer: ll, Neighbor: ll, Interface: "swp1", State: "Up"},
		{Peer: netip.MustParseAddr("fe80::3"), Neighbor: netip.MustParseAddr("fe80::3"), Interface: "swp2", State: "Down"},
		{Peer: netip.MustParseAddr("10.9.0.1"), State: "Up"},
	}}}
	h := NewHandler(f, info)
	for _, q := range []string{"swp1", "fe80::2"} {
		rec := do(h, "GET", BFDQuery(q), "")
		var r daemon.BFDReport
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &r) != nil || len(r.Sessions) != 1 || r.Sessions[0].Interface != "swp1" {
			t.Errorf("GET %s: %d %s", BFDQuery(q), rec.Code, rec.Body)
		}
	}
	rec := do(h, "GET", BFDQuery("spine1"), "")
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "no BFD session on interface spine1; sessions: fe80::2%swp1, fe80::3%swp2, 10.9.0.1") {
		t.Errorf("unknown interface: %d %s", rec.Code, rec.Body)
	}
}
