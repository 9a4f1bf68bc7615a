// Package api is closd's control API: HTTP and JSON on a unix socket, read by
// `clos show`. The server reads the daemon only through Backend, so it can be
// tested against a fake and cannot change the daemon's state; the client and
// the text renderers that turn its answers into vtysh-like tables live here
// too, so the command-line tool stays wiring.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/closnet/clos/internal/daemon"
)

// Backend is what the API reads. *daemon.Daemon satisfies it.
type Backend interface {
	Neighbors(ctx context.Context) ([]daemon.NeighborStatus, error)
	Routes(ctx context.Context) ([]daemon.Route, error)
}

// Info is the daemon's identity, fixed by its configuration.
type Info struct {
	RouterID netip.Addr
	ASN      uint32
}

// Summary is GET /v1/bgp/summary.
type Summary struct {
	RouterID  netip.Addr        `json:"router_id"`
	LocalAS   uint32            `json:"local_as"`
	Neighbors []SummaryNeighbor `json:"neighbors"`
}

// SummaryNeighbor is one line of the summary table.
type SummaryNeighbor struct {
	Address     netip.Addr `json:"address"`
	Description string     `json:"description,omitempty"`
	// RemoteAS is the AS the peer announced; 0 before the first OPEN.
	RemoteAS           uint32  `json:"remote_as"`
	State              string  `json:"state"`
	AdminDown          bool    `json:"admin_down,omitempty"`
	UptimeSeconds      float64 `json:"uptime_seconds"`
	MessagesReceived   uint64  `json:"messages_received"`
	MessagesSent       uint64  `json:"messages_sent"`
	PrefixesReceived   int     `json:"prefixes_received"`
	PrefixesAccepted   int     `json:"prefixes_accepted"`
	PrefixesAdvertised int     `json:"prefixes_advertised"`
}

// Neighbors is GET /v1/bgp/neighbors.
type Neighbors struct {
	Neighbors []daemon.NeighborStatus `json:"neighbors"`
}

// Routes is GET /v1/bgp/routes.
type Routes struct {
	Routes []daemon.Route `json:"routes"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// timeout bounds one request's wait for the daemon's loop, so a wedged loop
// gives the operator an error instead of a hung `clos show`.
const timeout = 5 * time.Second

// NewHandler serves the /v1/ API from b.
func NewHandler(b Backend, info Info) http.Handler {
	h := &handler{b: b, info: info}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/bgp/summary", h.summary)
	mux.HandleFunc("GET /v1/bgp/neighbors", h.neighbors)
	mux.HandleFunc("GET /v1/bgp/neighbors/{addr}", h.neighbor)
	mux.HandleFunc("GET /v1/bgp/routes", h.routes)
	mux.HandleFunc("POST /v1/bgp/neighbors/{addr}/shutdown", h.shutdown)
	mux.HandleFunc("POST /v1/bgp/neighbors/{addr}/enable", h.enable)
	mux.HandleFunc("POST /v1/bgp/neighbors/{addr}/clear", h.clear)
	mux.HandleFunc("POST /v1/bgp/clear", h.clear)
	mux.HandleFunc("POST /v1/config/reload", h.reload)
	valid := "GET /v1/bgp/summary, /v1/bgp/neighbors, /v1/bgp/neighbors/{addr}, /v1/bgp/routes[?prefix=P]; " +
		"POST /v1/bgp/neighbors/{addr}/shutdown|enable|clear, /v1/bgp/clear, /v1/config/reload"
	for _, e := range registered() {
		mux.HandleFunc("GET "+e.Path, serveEndpoint(b, e))
		valid += ", " + e.Path
	}
	for _, a := range registeredActions() {
		mux.HandleFunc("POST "+a.Path, serveAction(b, a))
		valid += ", POST " + a.Path
	}
	nf := func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no endpoint "+r.Method+" "+r.URL.Path+"; valid: "+valid)
	}
	mux.HandleFunc("/", nf)
	return methodCheck(mux, nf)
}

// methodCheck answers a non-GET on a known path with 405 and a JSON body
// rather than the mux's plain-text one, and an unclean path ("..", ".",
// "//") with 404 rather than the mux's redirect: a neighbor named "." must
// not turn into the list of every neighbor.
func methodCheck(next http.Handler, notFound http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || path.Clean(p) != p {
			notFound(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			switch {
			case adminPath(r.URL.Path):
				if r.Method != http.MethodPost {
					w.Header().Set("Allow", http.MethodPost)
					writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+"; it is an action: use POST")
					return
				}
			case r.Method == http.MethodPost && isAction(r.URL.Path):
			case r.Method != http.MethodGet && r.Method != http.MethodHead:
				w.Header().Set("Allow", http.MethodGet)
				writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+": it is read-only (use GET)")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// adminPath reports whether p is one of the POST endpoints.
func adminPath(p string) bool {
	if p == "/v1/bgp/clear" || p == "/v1/config/reload" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "/v1/bgp/neighbors/")
	if !ok {
		return false
	}
	_, action, ok := strings.Cut(rest, "/")
	return ok && (action == "shutdown" || action == "enable" || action == "clear")
}

type handler struct {
	b    Backend
	info Info
}

func (h *handler) summary(w http.ResponseWriter, r *http.Request) {
	ns, ok := h.loadNeighbors(w, r)
	if !ok {
		return
	}
	s := Summary{RouterID: h.info.RouterID, LocalAS: h.info.ASN, Neighbors: []SummaryNeighbor{}}
	for _, n := range ns {
		s.Neighbors = append(s.Neighbors, SummaryNeighbor{
			Address:            n.Address,
			Description:        n.Description,
			RemoteAS:           n.PeerAS,
			State:              n.State,
			AdminDown:          n.AdminDown,
			UptimeSeconds:      n.Uptime.Seconds(),
			MessagesReceived:   n.Session.MessagesIn.Total(),
			MessagesSent:       n.Session.MessagesOut.Total(),
			PrefixesReceived:   n.PrefixesReceived,
			PrefixesAccepted:   n.PrefixesAccepted,
			PrefixesAdvertised: n.PrefixesAdvertised,
		})
	}
	writeJSON(w, http.StatusOK, s)
}

func (h *handler) neighbors(w http.ResponseWriter, r *http.Request) {
	ns, ok := h.loadNeighbors(w, r)
	if !ok {
		return
	}
	if ns == nil {
		ns = []daemon.NeighborStatus{}
	}
	writeJSON(w, http.StatusOK, Neighbors{Neighbors: ns})
}

func (h *handler) neighbor(w http.ResponseWriter, r *http.Request) {
	addr, err := netip.ParseAddr(r.PathValue("addr"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "neighbor address "+quote(r.PathValue("addr"))+": want an IPv4 or IPv6 address like 10.0.0.1")
		return
	}
	ns, ok := h.loadNeighbors(w, r)
	if !ok {
		return
	}
	for _, n := range ns {
		if n.Address == addr {
			writeJSON(w, http.StatusOK, n)
			return
		}
	}
	writeError(w, http.StatusNotFound, "no neighbor "+addr.String())
}

func (h *handler) routes(w http.ResponseWriter, r *http.Request) {
	q, filtered := r.URL.Query().Get("prefix"), r.URL.Query().Has("prefix")
	var match func([]daemon.Route) []daemon.Route
	if filtered {
		m, err := prefixMatcher(q)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		match = m
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	rs, err := h.b.Routes(ctx)
	if err != nil {
		backendError(w, err)
		return
	}
	out := Routes{Routes: []daemon.Route{}}
	if match != nil {
		rs = match(rs)
		if len(rs) == 0 {
			writeError(w, http.StatusNotFound, "no route for "+q)
			return
		}
	}
	out.Routes = append(out.Routes, rs...)
	writeJSON(w, http.StatusOK, out)
}

// prefixMatcher accepts a prefix (exact match, as `show bgp 10.0.0.0/24`)
// or an address (the longest prefix holding it, as `show bgp 10.0.0.1`).
// Every family's best path for that prefix is kept.
func prefixMatcher(q string) (func([]daemon.Route) []daemon.Route, error) {
	if p, err := netip.ParsePrefix(q); err == nil {
		if p != p.Masked() {
			return nil, errors.New("prefix " + quote(q) + " has host bits set; did you mean " + p.Masked().String() + "?")
		}
		return func(rs []daemon.Route) []daemon.Route { return keep(rs, p) }, nil
	}
	a, err := netip.ParseAddr(q)
	if err != nil {
		return nil, errors.New("prefix " + quote(q) + ": want a prefix like 10.0.0.0/24 or an address like 10.0.0.1")
	}
	return func(rs []daemon.Route) []daemon.Route {
		var best netip.Prefix
		for _, r := range rs {
			if r.Prefix.Contains(a) && (!best.IsValid() || r.Prefix.Bits() > best.Bits()) {
				best = r.Prefix
			}
		}
		if !best.IsValid() {
			return nil
		}
		return keep(rs, best)
	}, nil
}

func keep(rs []daemon.Route, p netip.Prefix) []daemon.Route {
	var out []daemon.Route
	for _, r := range rs {
		if r.Prefix == p {
			out = append(out, r)
		}
	}
	return out
}

func (h *handler) loadNeighbors(w http.ResponseWriter, r *http.Request) ([]daemon.NeighborStatus, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	ns, err := h.b.Neighbors(ctx)
	if err != nil {
		backendError(w, err)
		return nil, false
	}
	return ns, true
}

func backendError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, daemon.ErrNotRunning):
		status = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	}
	writeError(w, status, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(Error{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
