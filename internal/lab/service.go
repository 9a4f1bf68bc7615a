package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/plan"
)

// Routing on the host in the lab (hosts: bgp): servers run closd (or FRR
// with --node-kind), and the lab runs what their service checks probe, so
// that fail service can kill it.

// ServiceTarget is what one service's check on one server probes, run by
// the lab in the server's namespace.
type ServiceTarget struct {
	Server    string         `json:"server"`
	Service   string         `json:"service"`
	Kind      string         `json:"kind"`    // the check kind: tcp and http are run by the lab
	Address   string         `json:"address"` // host:port (tcp) or the URL (http)
	Addresses []netip.Prefix `json:"addresses"`
	Pid       int            `json:"pid,omitempty"`
	Failed    bool           `json:"failed,omitempty"`
}

// services is the lab's services.json: the targets and the binary that
// serves them (clos itself, clos lab serve-target).
type services struct {
	Clos    string          `json:"clos"`
	Targets []ServiceTarget `json:"targets"`
}

func servicesPath(s *State) string { return filepath.Join(s.dir, "services.json") }

func loadServices(s *State) (*services, error) {
	b, err := os.ReadFile(servicesPath(s))
	if errors.Is(err, os.ErrNotExist) {
		return &services{}, nil
	}
	if err != nil {
		return nil, err
	}
	var sv services
	if err := json.Unmarshal(b, &sv); err != nil {
		return nil, fmt.Errorf("%s: %v", servicesPath(s), err)
	}
	return &sv, nil
}

func (sv *services) save(s *State) error {
	b, err := json.MarshalIndent(sv, "", "  ")
	if err != nil {
		return err
	}
	tmp := servicesPath(s) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, servicesPath(s))
}

// hostKinds adds the servers that run a routing daemon (hosts: bgp) to
// kinds: closd by default, whatever the switches run, since that is what
// the plan is for; --node-kind SERVER=frr runs the plan's host frr.conf.
func hostKinds(f *plan.Fabric, kinds map[string]string) {
	for _, h := range f.Servers {
		if h.Closd != "" {
			kinds[h.Name] = KindClosd
		}
	}
}

// noRedirects turns ICMP redirects off: a leaf that forwards a packet back
// out of the server bridge it came in on would otherwise tell the server to
// use the other server directly (the BGP next hop a moment ago), and that
// cached exception outlives the routes: after a drain or a withdrawal the
// server kept sending to the old anycast instance. Routers in a fabric send
// none, and hosts that route do not take them.
func noRedirects(role string) []string {
	if role == plan.RoleServer {
		return []string{"net.ipv4.conf.all.accept_redirects=0", "net.ipv4.conf.default.accept_redirects=0",
			"net.ipv6.conf.all.accept_redirects=0", "net.ipv6.conf.default.accept_redirects=0"}
	}
	return []string{"net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0"}
}

// nodeConfigs are the plan's closd and FRR config paths of a switch or a
// bgp server.
func nodeConfigs(f *plan.Fabric, name string) (closd, frr string) {
	if n := fabricNode(f, name); n != nil {
		return n.Closd, n.FRR
	}
	if h := serverByName(f, name); h != nil {
		return h.Closd, h.FRR
	}
	return "", ""
}

// setupHosts puts the bgp servers' loopbacks on lo and starts their
// service targets, before their daemons start.
func setupHosts(ctx context.Context, s *State, f *plan.Fabric, clos string) error {
	sv := &services{Clos: clos}
	for _, h := range f.Servers {
		if h.Closd == "" {
			continue
		}
		ns := Netns(s.Prefix, h.Name)
		for _, lo := range h.Loopbacks {
			if _, err := run(ctx, "ip", "-n", ns, "addr", "add", lo.String(), "dev", "lo"); err != nil {
				return err
			}
		}
		for _, svc := range h.Services {
			t := ServiceTarget{Server: h.Name, Service: svc.Name, Kind: svc.Check.Kind, Address: svc.Check.Address, Addresses: svc.Addresses}
			if t.Kind == "http" {
				t.Address = svc.Check.URL
			}
			sv.Targets = append(sv.Targets, t)
		}
	}
	if len(sv.Targets) == 0 {
		return nil
	}
	if sv.Clos == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("service targets are served by clos itself: %v", err)
		}
		sv.Clos = exe
	}
	for i := range sv.Targets {
		if err := startTarget(ctx, s, sv, &sv.Targets[i]); err != nil {
			return err
		}
		if err := sv.save(s); err != nil {
			return err
		}
	}
	return sv.save(s)
}

// served tells whether the lab can run what a check probes.
func served(t *ServiceTarget) bool { return t.Kind == "tcp" || t.Kind == "http" }

func startTarget(ctx context.Context, s *State, sv *services, t *ServiceTarget) error {
	if !served(t) {
		return nil // its check decides by itself; fail service refuses it
	}
	addr := t.Address
	if t.Kind == "http" {
		u := strings.TrimPrefix(strings.TrimPrefix(t.Address, "http://"), "https://")
		addr, _, _ = strings.Cut(u, "/")
		if !strings.Contains(addr, ":") {
			addr += ":80"
		}
	}
	pid, err := spawnTarget(ctx, Netns(s.Prefix, t.Server), sv.Clos, t.Kind, addr,
		filepath.Join(s.dir, t.Server+"-"+t.Service+".log"))
	if err != nil {
		return fmt.Errorf("%s:%s: starting its %s target %s: %w", t.Server, t.Service, t.Kind, addr, err)
	}
	t.Pid = pid
	return nil
}

// ServeTarget serves what a lab service's check probes until ctx ends: a
// TCP listener that accepts and closes (kind tcp), or an HTTP server that
// answers 200 to everything (kind http). clos lab serve-target runs it in
// a server's namespace.
func ServeTarget(ctx context.Context, kind, addr string) error {
	if kind != "tcp" && kind != "http" {
		return inputf("serve-target %q: want tcp or http", kind)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); l.Close() }()
	if kind == "http" {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }),
			ReadHeaderTimeout: 5 * time.Second}
		err = srv.Serve(l)
	} else {
		for {
			c, aerr := l.Accept()
			if aerr != nil {
				err = aerr
				break
			}
			c.Close()
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// findTarget resolves SERVER:SERVICE.
func findTarget(sv *services, f *plan.Fabric, what string) (*ServiceTarget, error) {
	server, name, ok := strings.Cut(what, ":")
	if !ok || server == "" || name == "" {
		return nil, inputf("%q: want SERVER:SERVICE, e.g. server1:dns", what)
	}
	h := serverByName(f, server)
	if h == nil {
		return nil, inputf("%q: no such server", server)
	}
	for i := range sv.Targets {
		if t := &sv.Targets[i]; t.Server == server && t.Service == name {
			return t, nil
		}
	}
	var names []string
	for _, x := range h.Services {
		names = append(names, x.Name)
	}
	if len(names) == 0 {
		return nil, inputf("%s runs no service (plan with --hosts bgp --anycast NAME=PREFIX:%s)", server, server)
	}
	return nil, inputf("%s runs no service %q; it runs: %s", server, name, strings.Join(names, ", "))
}

// serviceTable is the nft table that drops traffic to a failed service's
// addresses on its server.
func serviceTable(s *State, t *ServiceTarget) string {
	return nftTable(s.Prefix, "svc_"+t.Service)
}

// FailService makes a service on a server fail as if it crashed: its check
// target stops (so closd's check fails and the address is withdrawn after
// fall x interval) and traffic to its addresses arriving at that server is
// dropped (nothing answers there any more), so measure sees the whole
// outage: detection, withdrawal and the fabric's reconvergence.
func FailService(ctx context.Context, s *State, f *plan.Fabric, what string) error {
	sv, err := loadServices(s)
	if err != nil {
		return err
	}
	t, err := findTarget(sv, f, what)
	if err != nil {
		return err
	}
	if !served(t) {
		return inputf("%s: its check is %s, which the lab does not run; the lab serves tcp and http checks (plan the service with --anycast, whose default check is tcp)", what, t.Kind)
	}
	if t.Failed {
		return inputf("%s is already failed; restore service %s first", what, what)
	}
	var rules strings.Builder
	fmt.Fprintf(&rules, "table inet %s {\n chain in {\n  type filter hook input priority -10; policy accept;\n", serviceTable(s, t))
	for _, a := range t.Addresses {
		fmt.Fprintf(&rules, "  %s daddr %s drop\n", map[bool]string{true: "ip", false: "ip6"}[a.Addr().Is4()], a.Addr())
	}
	rules.WriteString(" }\n}\n")
	if err := nftApply(ctx, Netns(s.Prefix, t.Server), rules.String()); err != nil {
		return fmt.Errorf("fail service %s: %w", what, err)
	}
	if t.Pid > 0 {
		kill(t.Pid)
		waitGone(t.Pid)
	}
	t.Pid, t.Failed = 0, true
	return sv.save(s)
}

// RestoreService restarts a failed service's target and lets its traffic
// in again; closd announces it after rise passing checks.
func RestoreService(ctx context.Context, s *State, f *plan.Fabric, what string) error {
	sv, err := loadServices(s)
	if err != nil {
		return err
	}
	t, err := findTarget(sv, f, what)
	if err != nil {
		return err
	}
	if !t.Failed {
		return inputf("%s is not failed", what)
	}
	if err := startTarget(ctx, s, sv, t); err != nil {
		return err
	}
	if _, err := nsRun(ctx, Netns(s.Prefix, t.Server), "nft", "delete", "table", "inet", serviceTable(s, t)); err != nil {
		return fmt.Errorf("restore service %s: %w", what, err)
	}
	t.Failed = false
	return sv.save(s)
}

func waitGone(pid int) {
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// serviceFlows probes an anycast address from every server that does not
// run the service; any instance counts as the receiver.
func serviceFlows(f *plan.Fabric, service string, addrs []netip.Prefix) func() ([]FlowEnds, error) {
	return func() ([]FlowEnds, error) {
		var rx []string
		for _, h := range f.Servers {
			for _, x := range h.Services {
				if x.Name == service {
					rx = append(rx, h.Name)
				}
			}
		}
		for _, a := range addrs {
			if a.Addr().Is4() {
				return ToAddress(f, a.Addr(), rx)
			}
		}
		return ToAddress(f, addrs[0].Addr(), rx)
	}
}

// ServiceAction is fail service as a measured action: Undo restores it,
// and the flows go to the service's address from every server that does
// not run it.
func ServiceAction(s *State, f *plan.Fabric, what string) (*Action, error) {
	sv, err := loadServices(s)
	if err != nil {
		return nil, err
	}
	t, err := findTarget(sv, f, what)
	if err != nil {
		return nil, err
	}
	if !served(t) {
		return nil, inputf("%s: its check is %s, which the lab does not run; the lab serves tcp and http checks", what, t.Kind)
	}
	if t.Failed {
		return nil, inputf("%s is already failed; restore service %s first", what, what)
	}
	return &Action{
		Verb: "fail service " + what, Target: what, Mode: "service",
		Apply: func(ctx context.Context) error { return FailService(ctx, s, f, what) },
		Undo:  func(ctx context.Context) error { return RestoreService(ctx, s, f, what) },
		Flows: serviceFlows(f, t.Service, t.Addresses),
	}, nil
}

// hostSocket is the API socket of a server's closd, from its config.
func hostSocket(s *State, server string) (string, error) {
	n, ok := s.Node(server)
	if !ok || n.Role != plan.RoleServer || n.Kind == "" {
		return "", inputf("%q is not a server running a routing daemon (plan with --hosts bgp)", server)
	}
	if n.Kind != KindClosd {
		return "", inputf("%s runs %s, which cannot drain; run closd there", server, n.Kind)
	}
	if n.Socket != "" {
		return n.Socket, nil // the lab's own, see up
	}
	c, err := config.Load(n.Config)
	if err != nil {
		return "", err
	}
	return c.API.Socket, nil
}

// Drain asks a server's closd to drain one service (or every one when
// service is empty), as clos drain --node SERVER does; undrain reverses it.
func Drain(ctx context.Context, s *State, server, service string, drain bool) error {
	sock, err := hostSocket(s, server)
	if err != nil {
		return err
	}
	path := api.DrainPath
	if !drain {
		path = api.UndrainPath
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := api.NewClient(sock).Post(ctx, path, api.DrainRequest{Service: service}); err != nil {
		var se *api.StatusError
		if errors.As(err, &se) && (se.Status == 400 || se.Status == 404) {
			return inputf("%s: %v", server, err)
		}
		return fmt.Errorf("%s: %w", server, err)
	}
	return nil
}

// DrainAction is drain SERVER[:SERVICE] as a measured action: the flows go
// to the service's address (the server's first service when none is named)
// and Undo undrains.
func DrainAction(s *State, f *plan.Fabric, what string) (*Action, error) {
	server, service, _ := strings.Cut(what, ":")
	h := serverByName(f, server)
	if h == nil {
		return nil, inputf("%q: no such server; want SERVER or SERVER:SERVICE", server)
	}
	if _, err := hostSocket(s, server); err != nil {
		return nil, err
	}
	var svc *plan.FabricService
	for i := range h.Services {
		if service == "" || h.Services[i].Name == service {
			svc = &h.Services[i]
			break
		}
	}
	if svc == nil {
		return nil, inputf("%s runs no service %q to probe", server, service)
	}
	return &Action{
		Verb: "drain " + what, Target: what, Mode: "drain",
		Apply: func(ctx context.Context) error { return Drain(ctx, s, server, service, true) },
		Undo:  func(ctx context.Context) error { return Drain(ctx, s, server, service, false) },
		Flows: serviceFlows(f, svc.Name, svc.Addresses),
	}, nil
}

// hostSessions is the server end of each bgp server's sessions to its
// leaf, as its daemon reports it.
func hostSessions(ctx context.Context, s *State, f *plan.Fabric) []Session {
	var out []Session
	for _, n := range s.Nodes {
		if n.Role != plan.RoleServer || n.Kind == "" {
			continue
		}
		h := serverByName(f, n.Name)
		if h == nil || len(h.Interfaces) == 0 {
			continue
		}
		var peers []peerState
		if n.Kind == KindFRR {
			peers = frrPeers(ctx, n)
		} else {
			peers = closdPeers(ctx, n)
		}
		for _, gw := range h.Gateways {
			x := Session{Node: n.Name, Interface: h.Interfaces[0].Name, Peer: h.Interfaces[0].Peer, Neighbor: gw.String(), State: "Idle"}
			for _, p := range peers {
				if p.addr == gw.String() {
					x.State, x.Uptime, x.Prefixes = p.state, p.uptime, p.pfx
				}
			}
			out = append(out, x)
		}
	}
	return out
}
