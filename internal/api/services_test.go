package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/anycast"
	"github.com/closnet/clos/internal/daemon"
)

type fakeServices struct {
	fake
	st      daemon.ServicesStatus
	drained []string
}

func (f *fakeServices) Services(context.Context) (daemon.ServicesStatus, error) { return f.st, nil }

func (f *fakeServices) DrainServices(_ context.Context, name string) error {
	return f.cmd("drain", name)
}

func (f *fakeServices) UndrainServices(_ context.Context, name string) error {
	return f.cmd("undrain", name)
}

func (f *fakeServices) cmd(verb, name string) error {
	if name != "" && name != "dns" {
		return fmt.Errorf("%w %q", daemon.ErrUnknownService, name)
	}
	f.drained = append(f.drained, verb+" "+name)
	return nil
}

func servicesFixture() *fakeServices {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return &fakeServices{st: daemon.ServicesStatus{Services: []daemon.ServiceStatus{{
		ServiceStatus: anycast.ServiceStatus{
			Name: "dns", Addresses: []netip.Prefix{netip.MustParsePrefix("10.255.0.53/32")},
			Check:  anycast.CheckSpec{Kind: anycast.CheckDNS, Address: "127.0.0.1:53", Name: "example.org", QType: "A"},
			Health: anycast.HealthUp, Admin: anycast.AdminDraining, Announced: true,
			Reason: "draining by operator, withdraw in 5s", Since: at, Passes: 4, Rise: 2, Fall: 3,
			Interval: 200 * time.Millisecond, Timeout: 150 * time.Millisecond, DrainUntil: at.Add(5 * time.Second),
			History: []anycast.ResultRecord{{ID: 1, At: at, OK: false, Detail: "rcode 2\n(SERVFAIL)", Duration: time.Millisecond},
				{ID: 2, At: at.Add(200 * time.Millisecond), OK: true, Duration: 2 * time.Millisecond}},
		},
		Routes: []daemon.ServiceRoute{{Prefix: netip.MustParsePrefix("10.255.0.53/32"), GracefulShutdown: true, Prepend: 2}},
	}}}}
}

func do(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	return rec
}

func TestServicesEndpoints(t *testing.T) {
	f := servicesFixture()
	h := NewHandler(f, info)
	rec := do(h, "GET", "/v1/services", "")
	var st daemon.ServicesStatus
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &st) != nil || len(st.Services) != 1 || st.Services[0].Name != "dns" || !st.Services[0].Routes[0].GracefulShutdown {
		t.Fatalf("GET /v1/services: %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "GET", "/v1/services?service=web", ""); rec.Code != 404 || !strings.Contains(rec.Body.String(), "configured: dns") {
		t.Errorf("unknown service: %d %s", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/v1/services/drain", `{"service": "dns"}`, 200, "drained service dns"},
		{"POST", "/v1/services/drain", ``, 200, "drained every service"},
		{"POST", "/v1/services/undrain", `{}`, 200, "undrained every service"},
		{"POST", "/v1/services/drain", `{"service": "web"}`, 404, "no such service"},
		{"POST", "/v1/services/drain", `{"svc": "dns"}`, 400, "unknown field"},
		{"POST", "/v1/services/drain", `[`, 400, "request body"},
		{"GET", "/v1/services/drain", ``, 404, "no endpoint"},
		{"POST", "/v1/bgp/summary", ``, 405, "read-only"},
		{"DELETE", "/v1/services/drain", ``, 405, "not allowed"},
	} {
		rec := do(h, tc.method, tc.path, tc.body)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s %q: %d %s; want %d with %q", tc.method, tc.path, tc.body, rec.Code, rec.Body, tc.code, tc.want)
		}
	}
	if got := strings.Join(f.drained, ","); got != "drain dns,drain ,undrain " {
		t.Errorf("backend saw %q", got)
	}
	// A backend without services answers 501, not a crash.
	if rec := do(NewHandler(fixture(), info), "POST", "/v1/services/drain", ""); rec.Code != http.StatusNotImplemented {
		t.Errorf("drain on a backend without services: %d %s", rec.Code, rec.Body)
	}
}

func TestRenderServices(t *testing.T) {
	var b strings.Builder
	if err := RenderServices(&b, servicesFixture().st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{
		"Service Addresses      Check                          Health Admin    Pass Fail Announced",
		"dns     10.255.0.53/32 dns A example.org@127.0.0.1:53 up     draining  4/2  0/3 yes (graceful-shutdown, prepend 2)",
		"yes (graceful-shutdown, prepend 2)",
		"dns: draining by operator, withdraw in 5s (since 2026-11-28T12:00:00Z)",
		"every 200ms, timeout 150ms, withdrawn at 2026-11-28T12:00:05Z",
		"12:00:00.200 pass",
		"12:00:00.000 fail 1ms rcode 2 (SERVFAIL)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("rendering lacks %q:\n%s", w, out)
		}
	}
	b.Reset()
	RenderServices(&b, daemon.ServicesStatus{})
	if b.String() != "No services configured\n" {
		t.Errorf("empty: %q", b.String())
	}
}

func FuzzDrainRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"service":"dns"}`, `{"service":1}`, `[`, `{"service":"web"}`, `null`} {
		f.Add(s)
	}
	h := NewHandler(servicesFixture(), info)
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range []string{DrainPath, UndrainPath} {
			rec := do(h, "POST", p, body)
			switch rec.Code {
			case 200:
				if !json.Valid(rec.Body.Bytes()) {
					t.Fatalf("200 with invalid JSON %q", rec.Body)
				}
			case 400, 404:
				var e Error
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("%d with body %q", rec.Code, rec.Body)
				}
			default:
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
