package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRegisteredEndpoint(t *testing.T) {
	RegisterEndpoint(Endpoint{
		Path:    "/v1/test/echo/{word}",
		Summary: "echo a word",
		Get: func(_ context.Context, _ Backend, r *http.Request) (any, error) {
			if w := r.PathValue("word"); w != "bad" {
				return map[string]string{"word": w}, nil
			}
			return nil, Errorf(http.StatusBadRequest, "word %q is bad", "bad")
		},
	})
	h := NewHandler(fixture(), info)
	for _, tc := range []struct {
		method, target string
		status         int
		body           string
	}{
		{"GET", "/v1/test/echo/hi", 200, `"word": "hi"`},
		{"GET", "/v1/test/echo/bad", 400, `{"error":"word \"bad\" is bad"}`},
		{"POST", "/v1/test/echo/hi", 405, "not allowed"},
		{"GET", "/v1/nothing", 404, "/v1/test/echo/{word}"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.target, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

func TestAllowed(t *testing.T) {
	const self, sock = 1000, 120
	for _, tc := range []struct {
		c    Cred
		want bool
	}{
		{Cred{UID: 0, GID: 0}, true},
		{Cred{UID: self, GID: 1000}, true},
		{Cred{UID: 2000, GID: sock}, true},
		{Cred{UID: 2000, GID: 2000, Groups: []uint32{5, sock}}, true},
		{Cred{UID: 2000, GID: 2000, Groups: []uint32{5}}, false},
		{Cred{UID: 2000, GID: 2000}, false},
	} {
		if got := Allowed(tc.c, self, sock); got != tc.want {
			t.Errorf("Allowed(%+v) = %v, want %v", tc.c, got, tc.want)
		}
	}
}
