package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/daemon"
)

// fakeAdmin records the actions it is asked for.
type fakeAdmin struct {
	*fake
	got []string
}

func (f *fakeAdmin) ShutdownNeighbor(_ context.Context, a netip.Addr, msg string) error {
	if err := daemon.CheckShutdownMessage(msg); err != nil {
		return err
	}
	if a != netip.MustParseAddr("10.1.0.1") {
		return daemon.ErrNoNeighbor
	}
	f.got = append(f.got, "shutdown "+a.String()+" "+msg)
	return nil
}

func (f *fakeAdmin) EnableNeighbor(_ context.Context, a netip.Addr) error {
	if a == netip.MustParseAddr("10.1.0.5") {
		return daemon.ErrConflict
	}
	f.got = append(f.got, "enable "+a.String())
	return nil
}

func (f *fakeAdmin) ClearNeighbors(_ context.Context, a netip.Addr, m daemon.ClearMode) ([]netip.Addr, error) {
	switch m {
	case daemon.ClearHard, daemon.ClearSoftIn, daemon.ClearSoftOut, daemon.ClearSoft:
	default:
		return nil, daemon.ErrInvalid
	}
	f.got = append(f.got, "clear "+a.String()+" "+string(m))
	return []netip.Addr{netip.MustParseAddr("10.1.0.1")}, nil
}

func (f *fakeAdmin) Reload(context.Context) (daemon.ReloadReport, error) {
	f.got = append(f.got, "reload")
	return daemon.ReloadReport{Unchanged: []string{"10.1.0.1"}}, nil
}

func TestAdminEndpoints(t *testing.T) {
	a := &fakeAdmin{fake: fixture()}
	h := NewHandler(a, info)
	for _, tc := range []struct {
		method, target, body string
		status               int
		want                 string
	}{
		{"POST", "/v1/bgp/neighbors/10.1.0.1/shutdown", `{"message":"maint"}`, 200, `"action": "shutdown"`},
		{"POST", "/v1/bgp/neighbors/10.1.0.1/shutdown", `{"message":"` + strings.Repeat("x", 256) + `"}`, 400, "RFC 9003"},
		{"POST", "/v1/bgp/neighbors/10.1.0.9/shutdown", ``, 404, "no neighbor"},
		{"POST", "/v1/bgp/neighbors/nope/shutdown", ``, 400, "want an IPv4 or IPv6 address"},
		{"POST", "/v1/bgp/neighbors/10.1.0.1/shutdown", `{"msg":"x"}`, 400, "unknown field"},
		{"GET", "/v1/bgp/neighbors/10.1.0.1/shutdown", ``, 405, "use POST"},
		{"POST", "/v1/bgp/neighbors/10.1.0.1/enable", ``, 200, `"action": "enable"`},
		{"POST", "/v1/bgp/neighbors/10.1.0.5/enable", ``, 409, "conflicts"},
		{"POST", "/v1/bgp/neighbors/10.1.0.1/clear", `{"mode":"in"}`, 200, `"action": "clear in"`},
		{"POST", "/v1/bgp/clear", ``, 200, `"action": "clear hard"`},
		{"POST", "/v1/bgp/clear", `{"mode":"sideways"}`, 400, "invalid request"},
		{"POST", "/v1/config/reload", ``, 200, `"unchanged"`},
		{"DELETE", "/v1/config/reload", ``, 405, "use POST"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body)))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s %s: %d %s; want %d with %q", tc.method, tc.target, tc.body, rec.Code, rec.Body, tc.status, tc.want)
		}
	}
	want := "shutdown 10.1.0.1 maint|enable 10.1.0.1|clear 10.1.0.1 in|clear invalid IP hard|reload"
	if got := strings.Join(a.got, "|"); got != want {
		t.Errorf("actions %q, want %q", got, want)
	}
	// A read-only backend takes no actions.
	rec := httptest.NewRecorder()
	NewHandler(fixture(), info).ServeHTTP(rec, httptest.NewRequest("POST", "/v1/config/reload", nil))
	if rec.Code != 405 || !strings.Contains(rec.Body.String(), "read-only") {
		t.Errorf("reload on a read-only backend: %d %s", rec.Code, rec.Body)
	}
}

// FuzzAdminBody feeds arbitrary bodies and neighbor addresses to the
// POST endpoints: every answer is a known status with a JSON body, and
// nothing but a well-formed request reaches the daemon.
func FuzzAdminBody(f *testing.F) {
	for _, s := range []string{`{"message":"maint"}`, `{"mode":"soft"}`, `{}`, ``, `null`, `{"mode":1}`, `[`, `{"message":"\u00ff"}`, `{"a":1}`} {
		f.Add("10.1.0.1", s)
	}
	f.Fuzz(func(t *testing.T, addr, body string) {
		a := &fakeAdmin{fake: fixture()}
		h := NewHandler(a, info)
		for _, target := range []string{"/v1/bgp/neighbors/" + addr + "/shutdown", "/v1/bgp/neighbors/" + addr + "/clear", "/v1/bgp/clear", "/v1/config/reload"} {
			req, err := http.NewRequest("POST", "http://closd"+target, strings.NewReader(body))
			if err != nil {
				continue
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case 200, 400, 404, 405, 409:
			default:
				t.Fatalf("%s %q: status %d", target, body, rec.Code)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %q: body %q", target, body, rec.Body)
			}
		}
	})
}
