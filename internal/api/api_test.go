package api

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/daemon"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

type fake struct {
	ns  []daemon.NeighborStatus
	rs  []daemon.Route
	err error
}

func (f *fake) Neighbors(context.Context) ([]daemon.NeighborStatus, error) { return f.ns, f.err }
func (f *fake) Routes(context.Context) ([]daemon.Route, error)             { return f.rs, f.err }

var info = Info{RouterID: netip.MustParseAddr("10.0.0.1"), ASN: 65001}

func fixture() *fake {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return &fake{
		ns: []daemon.NeighborStatus{
			{
				Address: netip.MustParseAddr("10.1.0.1"), Description: "spine1", State: "Established",
				Uptime: 3*time.Hour + 4*time.Minute + 5*time.Second, PeerAS: 65100, PeerID: "10.0.1.1",
				HoldTime: 9, Families: []string{"ipv4-unicast", "ipv6-unicast"}, AS4: true, RouteRefresh: true,
				Local: "10.1.0.0:40123", Remote: "10.1.0.1:179",
				PrefixesReceived: 12, PrefixesAccepted: 10, PrefixesAdvertised: 3, PrefixesBest: 7, Resets: 1,
				Session: fsm.Status{
					State: "Established", PeerAS: 65100, PeerID: "10.0.1.1", EstablishedAt: at, Established: 2, Flaps: 1,
					HoldTimeSeconds: 9, KeepaliveSeconds: 3, Families: []string{"ipv4-unicast", "ipv6-unicast"},
					MessagesIn:  fsm.MessageCounts{Open: 2, Update: 40, Keepalive: 300, Notification: 1},
					MessagesOut: fsm.MessageCounts{Open: 2, Update: 5, Keepalive: 301},
					LastReceived: &fsm.NotificationInfo{Code: 6, Subcode: 2, Name: "Cease/Administrative Shutdown",
						Message: "maintenance", At: at.Add(-time.Hour)},
					LastDown: "received NOTIFICATION Cease/Administrative Shutdown", LastDownAt: at.Add(-time.Hour),
				},
			},
			{
				Address: netip.MustParseAddr("2001:db8::2"), State: "Active",
				Session: fsm.Status{State: "Active", ConsecutiveFailures: 3, IdleHoldSeconds: 8,
					LastSent: &fsm.NotificationInfo{Code: 2, Subcode: 2, Name: "OPEN Message Error/Bad Peer AS", Data: []byte{0xfd, 0xe8}, At: at}},
			},
			{Address: netip.MustParseAddr("10.1.0.5"), Description: "spine2", State: "Idle", AdminDown: true},
		},
		rs: []daemon.Route{
			{Family: "ipv4-unicast", Prefix: netip.MustParsePrefix("10.0.0.1/32"), Local: true, ASPath: ""},
			{Family: "ipv4-unicast", Prefix: netip.MustParsePrefix("10.2.0.0/16"), Peer: netip.MustParseAddr("10.1.0.1"), NextHop: netip.MustParseAddr("10.1.0.1"), ASPath: "65100 65002"},
			{Family: "ipv4-unicast", Prefix: netip.MustParsePrefix("10.2.3.0/24"), Peer: netip.MustParseAddr("10.1.0.1"), NextHop: netip.MustParseAddr("10.1.0.1"), ASPath: "65100 65003", Communities: 2},
			{Family: "ipv6-unicast", Prefix: netip.MustParsePrefix("2001:db8:1::/48"), Peer: netip.MustParseAddr("10.1.0.1"), NextHop: netip.MustParseAddr("fe80::1"), ASPath: "65100"},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func get(t *testing.T, h http.Handler, method, target string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, target, ct)
	}
	return rec.Code, rec.Body.Bytes()
}

func TestGolden(t *testing.T) {
	h := NewHandler(fixture(), info)
	for _, tc := range []struct{ name, path string }{
		{"summary", SummaryPath},
		{"neighbors", NeighborsPath("")},
		{"neighbor", NeighborsPath("10.1.0.1")},
		{"routes", RoutesPath("")},
		{"routes_prefix", RoutesPath("10.2.3.0/24")},
		{"routes_address", RoutesPath("10.2.3.4")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, h, "GET", tc.path)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			golden(t, tc.name+".json", body)
			var text bytes.Buffer
			switch tc.name {
			case "summary":
				var s Summary
				mustDecode(t, body, &s)
				RenderSummary(&text, s)
			case "neighbors":
				var n Neighbors
				mustDecode(t, body, &n)
				RenderNeighbors(&text, n.Neighbors)
			case "neighbor":
				var n daemon.NeighborStatus
				mustDecode(t, body, &n)
				RenderNeighbors(&text, []daemon.NeighborStatus{n})
			default:
				var r Routes
				mustDecode(t, body, &r)
				RenderRoutes(&text, r.Routes)
			}
			golden(t, tc.name+".txt", text.Bytes())
		})
	}
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func TestRoutesAddressPicksLongestMatch(t *testing.T) {
	code, body := get(t, NewHandler(fixture(), info), "GET", RoutesPath("10.2.3.4"))
	var r Routes
	mustDecode(t, body, &r)
	if code != 200 || len(r.Routes) != 1 || r.Routes[0].Prefix.String() != "10.2.3.0/24" {
		t.Fatalf("status %d, routes %+v; want only 10.2.3.0/24", code, r.Routes)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, method, path string
		backendErr         error
		status             int
		want               string
	}{
		{"unknown neighbor", "GET", "/v1/bgp/neighbors/10.9.9.9", nil, 404, "no neighbor 10.9.9.9"},
		{"bad neighbor address", "GET", "/v1/bgp/neighbors/spine1", nil, 400, `neighbor address "spine1"`},
		{"bad prefix", "GET", "/v1/bgp/routes?prefix=10.0.0.0/33", nil, 400, `prefix "10.0.0.0/33"`},
		{"host bits", "GET", "/v1/bgp/routes?prefix=10.2.3.1/24", nil, 400, "did you mean 10.2.3.0/24"},
		{"empty prefix", "GET", "/v1/bgp/routes?prefix=", nil, 400, `prefix ""`},
		{"no route", "GET", "/v1/bgp/routes?prefix=192.0.2.0/24", nil, 404, "no route for 192.0.2.0/24"},
		{"unknown path", "GET", "/v1/bgp/nope", nil, 404, "valid: GET /v1/bgp/summary"},
		{"dot neighbor is not the list", "GET", "/v1/bgp/neighbors/.", nil, 404, "no endpoint"},
		{"no version", "GET", "/bgp/summary", nil, 404, "no endpoint"},
		{"post", "POST", "/v1/bgp/summary", nil, 405, "use GET"},
		{"daemon not running", "GET", "/v1/bgp/summary", daemon.ErrNotRunning, 503, "not running"},
		{"daemon wedged", "GET", "/v1/bgp/routes", context.DeadlineExceeded, 504, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fixture()
			f.err = tc.backendErr
			code, body := get(t, NewHandler(f, info), tc.method, tc.path)
			var e Error
			mustDecode(t, body, &e)
			if code != tc.status || !strings.Contains(e.Error, tc.want) {
				t.Fatalf("status %d error %q; want %d and %q", code, e.Error, tc.status, tc.want)
			}
		})
	}
}

func TestUpDown(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "never"},
		{59 * time.Second, "00:00:59"},
		{23*time.Hour + 59*time.Minute, "23:59:00"},
		{2*24*time.Hour + 3*time.Hour + 4*time.Minute, "2d03h04m"},
		{15*24*time.Hour + 5*time.Hour, "02w1d05h"},
	} {
		if got := upDown("Established", tc.d); got != tc.want {
			t.Errorf("upDown(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := upDown("Active", time.Hour); got != "never" {
		t.Errorf("a session that is down shows %q", got)
	}
}

func TestSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "closd")
	path := filepath.Join(dir, "closd.sock")
	s, err := Start(path, NewHandler(fixture(), info))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != SocketMode {
		t.Errorf("socket mode %v, want %v", fi.Mode().Perm(), os.FileMode(SocketMode))
	}
	if di, err := os.Stat(dir); err != nil || di.Mode().Perm() != 0o755 {
		t.Errorf("parent dir: %v %v, want 0755", di.Mode(), err)
	}
	c := NewClient(path)
	sum, err := c.Summary(context.Background())
	if err != nil || sum.LocalAS != 65001 || len(sum.Neighbors) != 3 {
		t.Fatalf("summary over the socket: %+v %v", sum, err)
	}
	_, err = c.Get(context.Background(), NeighborsPath("10.9.9.9"))
	if se, ok := err.(*StatusError); !ok || se.Status != 404 {
		t.Errorf("unknown neighbor over the socket: %v", err)
	}

	// A live socket is refused.
	if _, err := Start(path, NewHandler(fixture(), info)); err == nil || !strings.Contains(err.Error(), "another process is serving") {
		t.Errorf("second server on a live socket: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := c.Summary(context.Background()); err == nil || !strings.Contains(err.Error(), "closd is not running or api.socket differs") {
		t.Errorf("missing socket: %v", err)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "closd.sock")
	// A dead daemon's socket: bound, then its listener gone without unlink.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	if _, err := NewClient(path).Summary(context.Background()); err == nil || !strings.Contains(err.Error(), "closd is not running") {
		t.Errorf("stale socket, no server: %v", err)
	}
	s, err := Start(path, NewHandler(fixture(), info))
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	defer s.Close(context.Background())
	if _, err := NewClient(path).Summary(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNonSocketIsNeverRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "closd.sock")
	os.WriteFile(path, []byte("precious"), 0o644)
	if _, err := Start(path, NewHandler(fixture(), info)); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file at the socket path: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Error("the file was touched")
	}
}
