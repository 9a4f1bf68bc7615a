package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// An Endpoint is a read-only GET endpoint that a feature adds from its own
// file (bfd.go, hosts.go, services.go ...) by calling RegisterEndpoint in an
// init function. Its Get reads the daemon through the Backend it is given,
// usually by asserting an interface of its own that *daemon.Daemon
// implements, and returns the value to encode as JSON.
type Endpoint struct {
	// Path is a net/http pattern path under /v1/, like "/v1/bfd/sessions"
	// or "/v1/hosts/{addr}" (read wildcards with r.PathValue).
	Path string
	// Summary is one line for the 404 answer's list and the docs.
	Summary string
	// Get answers the request. An error made by Errorf carries its HTTP
	// status; daemon.ErrNotRunning becomes 503, a deadline 504, others 500.
	Get func(ctx context.Context, b Backend, r *http.Request) (any, error)
}

// routes holds what features registered, sorted by path: endpoints are
// GETs, actions POSTs. A path may be registered once per kind.
type routes[T any] struct {
	kind  string
	path  func(T) string
	mu    sync.Mutex
	items []T
}

func (r *routes[T]) add(x T, ok bool) {
	p := r.path(x)
	if !strings.HasPrefix(p, "/v1/") || !ok {
		panic("api: Register" + r.kind + ": want a /v1/ path and a handler: " + p)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.items {
		if r.path(o) == p {
			panic("api: " + r.kind + " registered twice: " + p)
		}
	}
	r.items = append(r.items, x)
	slices.SortFunc(r.items, func(a, b T) int { return strings.Compare(r.path(a), r.path(b)) })
}

func (r *routes[T]) all() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

var endpoints = routes[Endpoint]{kind: "Endpoint", path: func(e Endpoint) string { return e.Path }}

// RegisterEndpoint adds e to every handler NewHandler makes afterwards.
func RegisterEndpoint(e Endpoint) { endpoints.add(e, e.Get != nil) }

func registered() []Endpoint { return endpoints.all() }

// HTTPError is an error with the HTTP status the API answers it with.
type HTTPError struct {
	Status int
	Msg    string
}

func (e *HTTPError) Error() string { return e.Msg }

// Errorf makes an error the API answers with status.
func Errorf(status int, format string, args ...any) error {
	return &HTTPError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// serveEndpoint runs e.Get with the request timeout and writes its answer.
func serveEndpoint(b Backend, e Endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		v, err := e.Get(ctx, b, r)
		if err != nil {
			var he *HTTPError
			if errors.As(err, &he) {
				writeError(w, he.Status, he.Msg)
				return
			}
			backendError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}
