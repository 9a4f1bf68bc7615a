package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/daemon"
)

type fakeGR struct {
	fake
	s daemon.GRShow
}

func (f *fakeGR) GracefulRestartShow(context.Context) (daemon.GRShow, error) { return f.s, f.err }

func grFixture() *fakeGR {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	v4, v6 := "ipv4-unicast", "ipv6-unicast"
	sent := &daemon.GRCapability{RestartTimeSeconds: 120, Restarting: true,
		Families: []daemon.GRFamily{{Family: v4, ForwardingPreserved: true}, {Family: v6, ForwardingPreserved: true}}}
	return &fakeGR{s: daemon.GRShow{
		Mode: "restart", RestartTimeSeconds: 120, StalepathTimeSeconds: 360, SelectDeferTimeSeconds: 60,
		FIB: true, AdoptedRoutes: 12, Restarting: true, Phase: daemon.GRPhaseRunning,
		PhaseStarted: at, PhaseSeconds: 3.25, DeferUntil: at.Add(time.Minute),
		Neighbors: []daemon.GRNeighbor{
			{
				Address: netip.MustParseAddr("10.1.0.1"), Description: "spine1", State: "Established", Sent: sent,
				Received: &daemon.GRCapability{RestartTimeSeconds: 90, Notification: true,
					Families: []daemon.GRFamily{{Family: v4, ForwardingPreserved: true}, {Family: v6}}},
				EndOfRIB: []string{v4, v6}, NotificationNegotiated: true,
			},
			{
				Address: netip.MustParseAddr("10.1.0.3"), State: "Active", Sent: sent,
				Received:       &daemon.GRCapability{RestartTimeSeconds: 30, Families: []daemon.GRFamily{{Family: v4, ForwardingPreserved: true}}},
				PeerRestarting: true, RestartUntil: at.Add(30 * time.Second),
				StalePaths: []daemon.GRStale{{Family: v4, Paths: 7}}, EndOfRIB: []string{}, HoldsPhase: true,
			},
			{
				Address: netip.MustParseAddr("fe80::2"), Interface: "swp3", State: "Established", Sent: sent,
				EndOfRIB: []string{},
			},
		},
		KeptDynamic: []daemon.GRKeptDynamic{{Address: netip.MustParseAddr("10.2.0.7"), ListenRange: netip.MustParsePrefix("10.2.0.0/24"),
			RestartUntil: at.Add(2 * time.Minute), StalePaths: []daemon.GRStale{{Family: v4, Paths: 2}}}},
	}}
}

func TestGREndpoint(t *testing.T) {
	h := NewHandler(grFixture(), info)
	rec := do(h, "GET", GRPath, "")
	var s daemon.GRShow
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &s) != nil || len(s.Neighbors) != 3 || s.AdoptedRoutes != 12 {
		t.Fatalf("GET %s: %d %s", GRPath, rec.Code, rec.Body)
	}
	golden(t, "gr.json", rec.Body.Bytes())
	var txt bytes.Buffer
	if err := RenderGR(&txt, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "gr.txt", txt.Bytes())

	for _, tc := range []struct {
		q      string
		status int
		want   string
	}{
		{"10.1.0.3", 200, `"peer_restarting": true`},
		{"swp3", 200, `"interface": "swp3"`},
		{"fe80::2%swp3", 200, `"interface": "swp3"`},
		{"10.1.0.9", 404, "no neighbor 10.1.0.9; neighbors: 10.1.0.1, 10.1.0.3, swp3 (fe80::2)"},
		{"10.2.0.7", 200, `"listen_range": "10.2.0.0/24"`},
		{"10.1.0.0/24", 400, "want an IP address like 10.0.0.1"},
	} {
		rec := do(h, "GET", GRQuery(tc.q), "")
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("?neighbor=%s: %d %s; want %d with %q", tc.q, rec.Code, rec.Body, tc.status, tc.want)
		}
		if rec.Code == 200 && strings.Count(rec.Body.String(), `"address"`) != 1 {
			t.Errorf("?neighbor=%s kept more than one neighbor: %s", tc.q, rec.Body)
		}
	}

	// A backend without the method answers 501, not a crash.
	if rec := do(NewHandler(fixture(), info), "GET", GRPath, ""); rec.Code != 501 {
		t.Errorf("backend without graceful restart: %d %s", rec.Code, rec.Body)
	}
}

func TestRenderGRWithoutFIB(t *testing.T) {
	var b bytes.Buffer
	err := RenderGR(&b, daemon.GRShow{Mode: "helper", RestartTimeSeconds: 120, StalepathTimeSeconds: 360, SelectDeferTimeSeconds: 60,
		Phase: daemon.GRPhaseNone, Neighbors: []daemon.GRNeighbor{{Address: netip.MustParseAddr("10.1.0.1"), State: "Idle", EndOfRIB: []string{}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Graceful restart mode helper, restart-time 120s", "Kernel FIB not managed by closd",
		"10.1.0.1 Idle  off  none     - -      -"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

// FuzzGRNeighborFilter: any ?neighbor= gets 200 with exactly one of the
// fixture's neighbors, 400 or 404 with a message; nothing else.
func FuzzGRNeighborFilter(f *testing.F) {
	for _, s := range []string{"10.1.0.1", "10.1.0.3", "swp3", "fe80::2%swp3", "", "10.1.0.0/24", "%zz", "swp3 ", "::ffff:10.1.0.1", "a_very_long_interface_name", "10.2.0.7"} {
		f.Add(s)
	}
	h := NewHandler(grFixture(), info)
	f.Fuzz(func(t *testing.T, q string) {
		rec := do(h, "GET", GRQuery(q), "")
		switch rec.Code {
		case http.StatusOK:
			var s daemon.GRShow
			err := json.Unmarshal(rec.Body.Bytes(), &s)
			// One neighbor, or the one kept dynamic neighbor; all without q.
			one := len(s.Neighbors)+len(s.KeptDynamic) == 1
			if err != nil || (q != "" && !one) || (q == "" && (len(s.Neighbors) != 3 || len(s.KeptDynamic) != 1)) {
				t.Fatalf("?neighbor=%q: 200 with %s", q, rec.Body)
			}
		case http.StatusBadRequest, http.StatusNotFound:
			var e Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("?neighbor=%q: %d with body %q", q, rec.Code, rec.Body.Bytes())
			}
		default:
			t.Fatalf("?neighbor=%q: status %d: %s", q, rec.Code, rec.Body)
		}
	})
}
