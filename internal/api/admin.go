package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/closnet/clos/internal/daemon"
)

// Admin is what the API's POST endpoints act through. *daemon.Daemon
// satisfies it; a Backend without it answers them with 405.
type Admin interface {
	ShutdownNeighbor(ctx context.Context, addr netip.Addr, message string) error
	EnableNeighbor(ctx context.Context, addr netip.Addr) error
	ClearNeighbors(ctx context.Context, addr netip.Addr, mode daemon.ClearMode) ([]netip.Addr, error)
	Reload(ctx context.Context) (daemon.ReloadReport, error)
}

// ShutdownRequest is the body of POST /v1/bgp/neighbors/{addr}/shutdown.
type ShutdownRequest struct {
	// Message is the RFC 9003 shutdown communication, at most 255 octets.
	Message string `json:"message,omitempty"`
}

// ClearRequest is the body of POST /v1/bgp/clear and
// /v1/bgp/neighbors/{addr}/clear.
type ClearRequest struct {
	// Mode is hard (the default), in, out or soft (in and out).
	Mode daemon.ClearMode `json:"mode,omitempty"`
}

// ActionResult is the answer of the neighbor actions.
type ActionResult struct {
	Action string `json:"action"`
	// Neighbors acted on; a soft clear skips sessions not established.
	Neighbors []netip.Addr `json:"neighbors"`
}

// reloadTimeout is longer than a query's: a reload reads a file and may
// touch every neighbor.
const reloadTimeout = 30 * time.Second

func (h *handler) admin(w http.ResponseWriter) (Admin, bool) {
	a, ok := h.b.(Admin)
	if !ok {
		writeError(w, http.StatusMethodNotAllowed, "this closd's API is read-only: it takes no admin actions")
	}
	return a, ok
}

// decodeBody reads an optional JSON body into v; an empty body leaves v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the request body: "+err.Error())
		return false
	}
	if len(b) == 0 {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "request body: "+err.Error())
		return false
	}
	return true
}

func (h *handler) neighborAddr(w http.ResponseWriter, r *http.Request) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(r.PathValue("addr"))
	if err != nil || addr.Zone() != "" {
		writeError(w, http.StatusBadRequest, "neighbor address "+quote(r.PathValue("addr"))+": want an IPv4 or IPv6 address like 10.0.0.1")
		return netip.Addr{}, false
	}
	return addr, true
}

func (h *handler) shutdown(w http.ResponseWriter, r *http.Request) {
	addr, ok := h.neighborAddr(w, r)
	if !ok {
		return
	}
	var req ShutdownRequest
	if !decodeBody(w, r, &req) {
		return
	}
	a, ok := h.admin(w)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if err := a.ShutdownNeighbor(ctx, addr, req.Message); err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ActionResult{Action: "shutdown", Neighbors: []netip.Addr{addr}})
}

func (h *handler) enable(w http.ResponseWriter, r *http.Request) {
	addr, ok := h.neighborAddr(w, r)
	if !ok {
		return
	}
	if !decodeBody(w, r, &struct{}{}) {
		return
	}
	a, ok := h.admin(w)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	if err := a.EnableNeighbor(ctx, addr); err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ActionResult{Action: "enable", Neighbors: []netip.Addr{addr}})
}

func (h *handler) clear(w http.ResponseWriter, r *http.Request) {
	var addr netip.Addr
	if r.PathValue("addr") != "" {
		var ok bool
		if addr, ok = h.neighborAddr(w, r); !ok {
			return
		}
	}
	req := ClearRequest{Mode: daemon.ClearHard}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Mode == "" {
		req.Mode = daemon.ClearHard
	}
	a, ok := h.admin(w)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	done, err := a.ClearNeighbors(ctx, addr, req.Mode)
	if err != nil {
		adminError(w, err)
		return
	}
	if done == nil {
		done = []netip.Addr{}
	}
	writeJSON(w, http.StatusOK, ActionResult{Action: "clear " + string(req.Mode), Neighbors: done})
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	if !decodeBody(w, r, &struct{}{}) {
		return
	}
	a, ok := h.admin(w)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), reloadTimeout)
	defer cancel()
	rep, err := a.Reload(ctx)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func adminError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, daemon.ErrNoNeighbor):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, daemon.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, daemon.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, daemon.ErrInvalidConfig):
		writeError(w, http.StatusUnprocessableEntity, err.Error())
	default:
		backendError(w, err)
	}
}
