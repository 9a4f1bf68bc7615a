package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/daemon"
	"github.com/closnet/clos/internal/neigh"
)

type fakeHosts struct {
	*fake
	st       daemon.HostsStatus
	err      error
	released []netip.Addr
	asked    []netip.Addr
}

func (f *fakeHosts) Hosts(context.Context) (daemon.HostsStatus, error) { return f.st, f.err }

func (f *fakeHosts) ReleaseHost(_ context.Context, ip netip.Addr) ([]netip.Addr, error) {
	f.asked = append(f.asked, ip)
	return f.released, f.err
}

func hostsFixture() *fakeHosts {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	rs := uint32(3)
	return &fakeHosts{fake: fixture(), st: daemon.HostsStatus{
		Interfaces: []string{"swp3", "swp4"},
		Hosts: []neigh.HostInfo{
			{IP: netip.MustParseAddr("10.1.0.10"), Prefix: netip.MustParsePrefix("10.1.0.10/32"), Interface: "swp3",
				MAC: neigh.MAC{2, 0, 0, 0, 0, 0x0a}, State: "active", KernelState: neigh.NUDReachable, Seq: 2, AgeSeconds: 312},
			{IP: netip.MustParseAddr("10.1.0.11"), Prefix: netip.MustParsePrefix("10.1.0.11/32"), Interface: "swp4",
				MAC: neigh.MAC{2, 0, 0, 0, 0, 0x0b}, State: "probing", ProbeAttempts: 1, KernelState: neigh.NUDFailed, Seq: 5,
				RemoteSeq: &rs, Frozen: true, FrozenUntil: at, AgeSeconds: 4000},
		},
		Frozen:   []neigh.FrozenInfo{{IP: netip.MustParseAddr("10.1.0.11"), Local: true, Until: at}, {IP: netip.MustParseAddr("10.1.0.99"), Until: at}},
		Engine:   neigh.Stats{Learned: 3, Withdrawn: 1, Moves: 6, Freezes: 1},
		Watching: true,
	}}
}

func TestHostsEndpoints(t *testing.T) {
	f := hostsFixture()
	f.released = []netip.Addr{netip.MustParseAddr("10.1.0.11")}
	h := NewHandler(f, info)
	for _, tc := range []struct {
		method, target, in string
		status             int
		body               string
	}{
		{"GET", "/v1/hosts", "", 200, `"seq": 5`},
		{"POST", "/v1/hosts", "", 405, "read-only"},
		{"POST", "/v1/hosts/release", `{"ip": "10.1.0.11"}`, 200, `"10.1.0.11"`},
		{"POST", "/v1/hosts/release", `{"ip": "all"}`, 200, `"released"`},
		{"POST", "/v1/hosts/release", `{"ip": "nope"}`, 400, `want a host address`},
		{"POST", "/v1/hosts/release", `[`, 400, `body: unexpected end`},
		{"GET", "/v1/hosts/release", "", 404, "POST /v1/hosts/release"},
		{"POST", "/v1/bgp/summary", "", 405, "read-only"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.in)))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.target, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
	if len(f.asked) != 2 || f.asked[0] != netip.MustParseAddr("10.1.0.11") || f.asked[1].IsValid() {
		t.Errorf("release asked for %v, want 10.1.0.11 then all (invalid)", f.asked)
	}
	off := &fakeHosts{fake: fixture(), err: daemon.ErrNoHosts}
	rec := httptest.NewRecorder()
	NewHandler(off, info).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/hosts", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "no hosts: section") {
		t.Errorf("hosts off: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	NewHandler(fixture(), info).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/hosts", nil))
	if rec.Code != 501 {
		t.Errorf("backend without hosts: %d %s", rec.Code, rec.Body)
	}
}

func TestRenderHosts(t *testing.T) {
	f := hostsFixture()
	b, err := json.Marshal(f.st)
	if err != nil {
		t.Fatal(err)
	}
	var st daemon.HostsStatus
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("the JSON does not decode back: %v\n%s", err, b)
	}
	var out strings.Builder
	if err := RenderHosts(&out, st); err != nil {
		t.Fatal(err)
	}
	want := `Host routes on swp3, swp4; 2 hosts

Address   Interface MAC               State      Kernel    Seq Remote   Age Frozen
10.1.0.10 swp3      02:00:00:00:00:0a active     reachable   2      - 5m12s no
10.1.0.11 swp4      02:00:00:00:00:0b probing(1) failed      5      3 1h06m until 12:00:00

Frozen, not held here: 10.1.0.99 (until 12:00:00)

Learned 3, withdrawn 1, moves 6, freezes 1, conflicts 0, rejected 0, probes 0, remote host routes 0
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}
