package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/anycast"
	"github.com/closnet/clos/internal/daemon"
)

// Anycast services (issue 12): GET /v1/services for `clos show services`,
// and the only endpoints that change the daemon: POST /v1/services/drain
// and /v1/services/undrain for `clos drain` and `clos undrain`. The socket's
// permissions (root and its group) are what guards them.

// Paths of the services endpoints.
const (
	ServicesPath = "/v1/services"
	DrainPath    = "/v1/services/drain"
	UndrainPath  = "/v1/services/undrain"
)

// ServicesBackend is what the services endpoints need; *daemon.Daemon
// implements it.
type ServicesBackend interface {
	Services(ctx context.Context) (daemon.ServicesStatus, error)
	DrainServices(ctx context.Context, name string) error
	UndrainServices(ctx context.Context, name string) error
}

// DrainRequest is the body of a drain or undrain: one service, or every
// service (and the node) when Service is empty.
type DrainRequest struct {
	Service string `json:"service,omitempty"`
}

// DrainAnswer is what a drain or undrain answers: the services' state
// right after.
type DrainAnswer struct {
	Done     string                `json:"done"`
	Services daemon.ServicesStatus `json:"services"`
}

// An Action is a POST endpoint that changes the daemon's state, registered
// like an Endpoint.
type Action struct {
	Path    string
	Summary string
	Post    func(ctx context.Context, b Backend, body []byte) (any, error)
}

var actions = routes[Action]{kind: "Action", path: func(a Action) string { return a.Path }}

// RegisterAction adds a to every handler NewHandler makes afterwards.
func RegisterAction(a Action) { actions.add(a, a.Post != nil) }

func registeredActions() []Action { return actions.all() }

func isAction(path string) bool {
	for _, a := range registeredActions() {
		if a.Path == path {
			return true
		}
	}
	return false
}

// maxActionBody bounds a POST body: the requests are a few fields.
const maxActionBody = 64 << 10

func serveAction(b Backend, a Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxActionBody+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "reading the request: "+err.Error())
			return
		}
		if len(body) > maxActionBody {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", maxActionBody))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		v, err := a.Post(ctx, b, body)
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

func servicesBackend(b Backend) (ServicesBackend, error) {
	sb, ok := b.(ServicesBackend)
	if !ok {
		return nil, Errorf(http.StatusNotImplemented, "this closd has no anycast services support")
	}
	return sb, nil
}

func init() {
	RegisterEndpoint(Endpoint{
		Path:    ServicesPath,
		Summary: "anycast services: health, drain, announced or not and why, check history",
		Get: func(ctx context.Context, b Backend, r *http.Request) (any, error) {
			sb, err := servicesBackend(b)
			if err != nil {
				return nil, err
			}
			st, err := sb.Services(ctx)
			if err != nil {
				return nil, err
			}
			if name := r.URL.Query().Get("service"); name != "" {
				var keep []daemon.ServiceStatus
				for _, s := range st.Services {
					if s.Name == name {
						keep = append(keep, s)
					}
				}
				if keep == nil {
					return nil, Errorf(http.StatusNotFound, "no service %s; configured: %s", quote(name), serviceNames(st))
				}
				st.Services = keep
			}
			return st, nil
		},
	})
	for _, drain := range []bool{true, false} {
		path, verb := DrainPath, "drain"
		if !drain {
			path, verb = UndrainPath, "undrain"
		}
		RegisterAction(Action{
			Path:    path,
			Summary: verb + ` one service ({"service": NAME}) or every service ({})`,
			Post: func(ctx context.Context, b Backend, body []byte) (any, error) {
				sb, err := servicesBackend(b)
				if err != nil {
					return nil, err
				}
				var req DrainRequest
				if len(bytes.TrimSpace(body)) > 0 {
					dec := json.NewDecoder(bytes.NewReader(body))
					dec.DisallowUnknownFields()
					if err := dec.Decode(&req); err != nil {
						return nil, Errorf(http.StatusBadRequest, `request body: %v; want {"service": "NAME"} or {} for every service`, err)
					}
				}
				if drain {
					err = sb.DrainServices(ctx, req.Service)
				} else {
					err = sb.UndrainServices(ctx, req.Service)
				}
				switch {
				case errors.Is(err, daemon.ErrUnknownService):
					return nil, Errorf(http.StatusNotFound, "%v", err)
				case errors.Is(err, daemon.ErrNoServices):
					return nil, Errorf(http.StatusConflict, "%v", err)
				case err != nil:
					return nil, err
				}
				st, err := sb.Services(ctx)
				if err != nil {
					return nil, err
				}
				what := "every service"
				if req.Service != "" {
					what = "service " + req.Service
				}
				return DrainAnswer{Done: verb + "ed " + what, Services: st}, nil
			},
		})
	}
}

func serviceNames(st daemon.ServicesStatus) string {
	var ns []string
	for _, s := range st.Services {
		ns = append(ns, s.Name)
	}
	if len(ns) == 0 {
		return "(none)"
	}
	return strings.Join(ns, ", ")
}

// ServicesQuery is the GET path for one service, or all when name is empty.
func ServicesQuery(name string) string {
	if name == "" {
		return ServicesPath
	}
	return ServicesPath + "?service=" + urlQueryEscape(name)
}

func urlQueryEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// RenderServices writes the services as a table, then each service's
// reason and recent check results.
func RenderServices(w io.Writer, st daemon.ServicesStatus) error {
	var b strings.Builder
	if len(st.Services) == 0 {
		b.WriteString("No services configured\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	if st.DrainAll {
		b.WriteString("Node drained: every service is drained until `clos undrain`\n\n")
	}
	t := table{align: "lllllrrl"}
	t.add("Service", "Addresses", "Check", "Health", "Admin", "Pass", "Fail", "Announced")
	for _, s := range st.Services {
		var addrs []string
		for _, p := range s.Addresses {
			addrs = append(addrs, p.String())
		}
		ann := "no"
		if s.Announced {
			ann = "yes"
			for _, r := range s.Routes {
				var attrs []string
				if r.GracefulShutdown {
					attrs = append(attrs, "graceful-shutdown")
				}
				if r.Prepend > 0 {
					attrs = append(attrs, "prepend "+strconv.Itoa(r.Prepend))
				}
				if len(attrs) > 0 {
					ann = "yes (" + strings.Join(attrs, ", ") + ")"
					break
				}
			}
		}
		t.add(s.Name, strings.Join(addrs, ","), checkString(s.Check), string(s.Health), string(s.Admin),
			fmt.Sprintf("%d/%d", s.Passes, s.Rise), fmt.Sprintf("%d/%d", s.Failures, s.Fall), ann)
	}
	t.write(&b)
	for _, s := range st.Services {
		fmt.Fprintf(&b, "\n%s: %s", s.Name, s.Reason)
		if !s.Since.IsZero() {
			fmt.Fprintf(&b, " (since %s)", s.Since.UTC().Format(time.RFC3339))
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "  every %v, timeout %v", s.Interval, s.Timeout)
		if s.Weight > 0 {
			fmt.Fprintf(&b, ", weight %d bit/s", s.Weight)
		}
		if !s.DrainUntil.IsZero() {
			fmt.Fprintf(&b, ", withdrawn at %s", s.DrainUntil.UTC().Format(time.RFC3339Nano))
		}
		b.WriteString("\n")
		if s.Loopback != "" {
			fmt.Fprintf(&b, "  loopback: %s\n", s.Loopback)
		}
		if len(s.History) > 0 {
			h := table{align: "llrl", indent: "  "}
			for i := len(s.History) - 1; i >= 0; i-- {
				r := s.History[i]
				res := "fail"
				if r.OK {
					res = "pass"
				}
				h.add(r.At.UTC().Format("15:04:05.000"), res, r.Duration.Round(time.Microsecond).String(), oneLine(r.Detail))
			}
			h.write(&b)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func checkString(c anycast.CheckSpec) string {
	switch c.Kind {
	case anycast.CheckExec:
		return "exec " + strings.Join(c.Command, " ")
	case anycast.CheckTCP:
		return "tcp " + c.Address
	case anycast.CheckHTTP:
		return fmt.Sprintf("http %s =%d", c.URL, c.ExpectStatus)
	case anycast.CheckDNS:
		return fmt.Sprintf("dns %s %s@%s", c.QType, c.Name, c.Address)
	}
	return string(c.Kind)
}

// oneLine keeps a check's detail (command output, HTTP body) on one line
// and short, for the table.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100]) + "..."
	}
	return s
}
