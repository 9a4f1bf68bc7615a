package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzHandler feeds arbitrary neighbor addresses and prefix filters to the
// handler: every answer must be a known status with a JSON body, and an
// error body must carry a message.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{"10.1.0.1", "2001:db8::2", "10.2.3.0/24", "10.2.3.4", "", "::/0", "10.0.0.0/33", "%zz", "fe80::1%eth0", "1.2.3.4/24"} {
		f.Add(s)
	}
	h := NewHandler(fixture(), info)
	f.Fuzz(func(t *testing.T, s string) {
		for _, target := range []string{
			"/v1/bgp/neighbors/" + url.PathEscape(s),
			"/v1/bgp/routes?prefix=" + url.QueryEscape(s),
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
			switch rec.Code {
			case http.StatusOK:
				if !json.Valid(rec.Body.Bytes()) {
					t.Fatalf("%s: 200 with invalid JSON %q", target, rec.Body.Bytes())
				}
			case http.StatusBadRequest, http.StatusNotFound:
				var e Error
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("%s: %d with body %q", target, rec.Code, rec.Body.Bytes())
				}
			default:
				t.Fatalf("%s: status %d: %s", target, rec.Code, rec.Body.Bytes())
			}
		}
	})
}
