package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/plan"
)

// FRRDir holds FRR's daemons (Debian package frr).
const FRRDir = "/usr/lib/frr"

// Options of Up.
type Options struct {
	Name      string            // lab name; default the fabric's name
	Kind      string            // frr (default) or closd
	NodeKinds map[string]string // per-switch override of Kind
	Base      string            // state base dir; default BaseDir()
	Wait      time.Duration     // bound on waiting for sessions; default 60 s
	Closd     string            // closd binary; default next to this executable, then PATH
	Clos      string            // clos binary serving bgp hosts' service targets; default this executable
	Out       io.Writer         // progress
}

// Up builds the lab of the fabric at fabricPath and waits for every BGP
// session. On failure it tears down what it made.
func Up(ctx context.Context, fabricPath string, o Options) (*State, error) {
	f, err := plan.ReadFabric(fabricPath)
	if err != nil {
		return nil, &InputError{err.Error()}
	}
	if o.Name == "" {
		o.Name = f.Name
	}
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	if o.Kind == "" {
		o.Kind = KindFRR
	}
	if o.Base == "" {
		o.Base = BaseDir()
	}
	if o.Wait == 0 {
		o.Wait = 60 * time.Second
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	kinds, err := nodeKinds(f, o.Kind, o.NodeKinds)
	if err != nil {
		return nil, err
	}
	if err := checkHostKinds(f, kinds); err != nil {
		return nil, err
	}
	planDir, _ := filepath.Abs(filepath.Dir(fabricPath))
	closd := ""
	for _, k := range kinds {
		if k == KindClosd && closd == "" {
			if closd, err = FindClosd(o.Closd); err != nil {
				return nil, fmt.Errorf("--kind closd: %w", err)
			}
		}
	}
	if err := checkTools(kinds); err != nil {
		return nil, err
	}
	dir := filepath.Join(o.Base, o.Name)
	if _, err := os.Stat(dir); err == nil {
		return nil, inputf("lab %q is already up (state in %s); take it down first: clos lab down --name %s", o.Name, dir, o.Name)
	}
	prefix := Prefix(o.Name)
	if left := leftoverNetns(ctx, prefix); len(left) > 0 {
		return nil, fmt.Errorf("namespaces with lab %q's prefix %s exist (%s): another lab with a colliding name, or leftovers; run clos lab down --name %s", o.Name, prefix, strings.Join(left, ", "), o.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &State{Name: o.Name, Prefix: prefix, PlanDir: planDir, Closd: closd, Created: time.Now().UTC(), dir: dir}
	s.Fabric = filepath.Join(dir, "fabric.yaml")
	data, err := os.ReadFile(fabricPath)
	if err == nil {
		err = os.WriteFile(s.Fabric, data, 0o644)
	}
	if err == nil {
		err = s.Save()
	}
	if err == nil {
		err = build(ctx, s, f, kinds, closd, o)
	}
	if err != nil {
		if derr := Down(context.Background(), o.Base, o.Name); derr != nil {
			err = fmt.Errorf("%w; tearing down also failed: %v", err, derr)
		} else {
			err = fmt.Errorf("%w (lab torn down)", err)
		}
		return nil, err
	}
	return s, nil
}

func nodeKinds(f *plan.Fabric, def string, over map[string]string) (map[string]string, error) {
	valid := func(k string) bool { return k == KindFRR || k == KindClosd }
	if !valid(def) {
		return nil, inputf("--kind %q: want frr or closd", def)
	}
	kinds := map[string]string{}
	for _, n := range f.Nodes {
		kinds[n.Name] = def
	}
	hostKinds(f, kinds)
	for n, k := range over {
		if _, ok := kinds[n]; !ok {
			var ns []string
			for _, x := range f.Nodes {
				ns = append(ns, x.Name)
			}
			return nil, inputf("--node-kind %s=%s: no switch %q in the fabric; switches: %s", n, k, n, strings.Join(ns, ", "))
		}
		if !valid(k) {
			return nil, inputf("--node-kind %s=%s: want frr or closd", n, k)
		}
		kinds[n] = k
	}
	return kinds, nil
}

// FindClosd is the closd binary to run: given (which must exist), else
// the one next to this executable, else closd on PATH.
func FindClosd(given string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", err
		}
		return given, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "closd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("closd")
	if err != nil {
		return "", errors.New("no closd binary next to clos or on PATH (go build -o DIR ./cmd/closd)")
	}
	return p, nil
}

func checkTools(kinds map[string]string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("clos lab needs root to create network namespaces")
	}
	tools := []string{"ip"}
	for _, k := range kinds {
		if k == KindFRR {
			tools = append(tools, "vtysh", FRRDir+"/zebra", FRRDir+"/bgpd", FRRDir+"/bfdd")
			break
		}
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s missing (install iproute2 and frr): %v", t, err)
		}
	}
	return nil
}

func switchNames(f *plan.Fabric) map[string]bool {
	m := map[string]bool{}
	for _, n := range f.Nodes {
		m[n.Name] = true
	}
	return m
}

func build(ctx context.Context, s *State, f *plan.Fabric, kinds map[string]string, closd string, o Options) error {
	say := func(format string, a ...any) {
		fmt.Fprintf(o.Out, "lab %s: "+format+"\n", append([]any{s.Name}, a...)...)
	}
	// Record every namespace before creating it, so a half-made lab is
	// still described by its state.
	for _, n := range f.Nodes {
		s.Nodes = append(s.Nodes, Node{Name: n.Name, Role: n.Role, Kind: kinds[n.Name], Netns: Netns(s.Prefix, n.Name)})
	}
	for _, h := range f.Servers {
		s.Nodes = append(s.Nodes, Node{Name: h.Name, Role: plan.RoleServer, Kind: kinds[h.Name], Netns: Netns(s.Prefix, h.Name)})
	}
	if err := s.Save(); err != nil {
		return err
	}
	say("creating %d namespaces (prefix %s)", len(s.Nodes), s.Prefix)
	for _, n := range s.Nodes {
		if _, err := run(ctx, "ip", "netns", "add", n.Netns); err != nil {
			return err
		}
		if _, err := run(ctx, "ip", "-n", n.Netns, "link", "set", "lo", "up", "alias", marker(s.dir)); err != nil {
			return err
		}
		sysctls := []string{"net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1",
			"net.ipv6.conf.all.forwarding=1", "net.ipv6.fib_multipath_hash_policy=1",
			"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0"}
		if n.Role == plan.RoleServer {
			sysctls = []string{"net.ipv4.conf.all.rp_filter=0"}
		}
		sysctls = append(sysctls, noRedirects(n.Role)...)
		if _, err := nsRun(ctx, n.Netns, append([]string{"sysctl", "-q", "-w"}, sysctls...)...); err != nil {
			return err
		}
	}
	say("cabling %d links", len(f.Links))
	if usesHypervisor(f) {
		if err := makeHypervisor(ctx, s); err != nil {
			return err
		}
	}
	for i, l := range f.Links {
		if usesHypervisor(f) && l.Kind == plan.KindServer {
			if err := cableServerLink(ctx, s, f, i, l); err != nil {
				return err
			}
			continue
		}
		a, b := vethName(s.Prefix, i, 'a'), vethName(s.Prefix, i, 'b')
		if _, err := run(ctx, "ip", "link", "add", a, "type", "veth", "peer", "name", b); err != nil {
			return err
		}
		for _, v := range []string{a, b} {
			if _, err := run(ctx, "ip", "link", "set", v, "alias", marker(s.dir)); err != nil {
				return err
			}
		}
		for _, e := range []struct {
			tmp string
			end plan.FabricEnd
		}{{a, l.A}, {b, l.B}} {
			ns := Netns(s.Prefix, e.end.Node)
			steps := [][]string{
				{"ip", "link", "set", e.tmp, "netns", ns},
				{"ip", "-n", ns, "link", "set", e.tmp, "name", e.end.Interface},
				{"ip", "-n", ns, "link", "set", e.end.Interface, "up"},
			}
			for _, a := range e.end.Addresses {
				steps = append(steps, []string{"ip", "-n", ns, "addr", "add", a.String(), "dev", e.end.Interface})
			}
			for _, st := range steps {
				if _, err := run(ctx, st...); err != nil {
					return fmt.Errorf("link %s: %w", l.Name, err)
				}
			}
		}
	}
	for _, n := range f.Nodes {
		ns := Netns(s.Prefix, n.Name)
		for _, lo := range n.Loopbacks {
			if _, err := run(ctx, "ip", "-n", ns, "addr", "add", lo.String(), "dev", "lo"); err != nil {
				return err
			}
		}
		for _, ifc := range n.Interfaces {
			if ifc.Kind != plan.KindBridge {
				continue
			}
			steps := [][]string{{"ip", "-n", ns, "link", "add", ifc.Name, "type", "bridge"}}
			for _, m := range ifc.Members {
				steps = append(steps, []string{"ip", "-n", ns, "link", "set", m, "master", ifc.Name})
			}
			for _, a := range ifc.Addresses {
				steps = append(steps, []string{"ip", "-n", ns, "addr", "add", a.String(), "dev", ifc.Name})
			}
			steps = append(steps, []string{"ip", "-n", ns, "link", "set", ifc.Name, "up"})
			for _, st := range steps {
				if _, err := run(ctx, st...); err != nil {
					return fmt.Errorf("%s's bridge: %w", n.Name, err)
				}
			}
		}
	}
	for i := range f.Servers {
		if err := serverRoutes(ctx, s, &f.Servers[i]); err != nil {
			return err
		}
	}
	if err := setupHosts(ctx, s, f, o.Clos); err != nil {
		return err
	}
	say("starting routing daemons")
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if n.Kind == "" {
			continue // a server without a daemon
		}
		closdConf, frrConf := nodeConfigs(f, n.Name)
		src := filepath.Join(s.PlanDir, frrConf)
		if n.Kind == KindClosd {
			src = filepath.Join(s.PlanDir, closdConf)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("%s's %s config: %v (plan the fabric with clos plan -o DIR and pass DIR/fabric.yaml)", n.Name, n.Kind, err)
		}
		n.Config = filepath.Join(s.dir, n.Name+"."+map[string]string{KindFRR: "frr.conf", KindClosd: "closd.yaml"}[n.Kind])
		if err := os.WriteFile(n.Config, data, 0o644); err != nil {
			return err
		}
		if n.Kind == KindFRR {
			n.RunDir = filepath.Join("/var/run/frr", n.Netns)
		} else {
			n.Log = filepath.Join(s.dir, n.Name+".log")
			// Per lab, not the plan's /run/closd/NODE.sock: two labs on
			// one box have nodes of the same name.
			n.Socket = filepath.Join(s.dir, n.Name+".sock")
			if len(n.Socket) > 100 {
				return fmt.Errorf("%s: API socket path %s is longer than a unix socket allows; use a shorter CLOS_LAB_DIR", n.Name, n.Socket)
			}
		}
		if err := s.Save(); err != nil {
			return err
		}
		if err := startDaemon(ctx, n, closd); err != nil {
			return err
		}
		if err := s.Save(); err != nil {
			return err
		}
	}
	say("waiting up to %s for %d BGP sessions", o.Wait, f.Summary.BGPSessions)
	deadline := time.Now().Add(o.Wait)
	last := ""
	var allUp time.Time
	for {
		sess, err := Sessions(ctx, s, f)
		if err != nil {
			return err
		}
		up, down := 0, []string{}
		for _, x := range sess {
			if x.State == "Established" {
				up++
			} else {
				down = append(down, x.String())
			}
		}
		msg := fmt.Sprintf("%d/%d session ends established", up, len(sess))
		if msg != last {
			say("%s", msg)
			last = msg
		}
		// Sessions may come up and drop again at start (BFD coming up
		// behind BGP), so all of them must hold for settle.
		if len(down) == 0 && len(sess) > 0 {
			if allUp.IsZero() {
				allUp = time.Now()
			}
			if time.Since(allUp) >= settle {
				break
			}
		} else {
			allUp = time.Time{}
		}
		if err := daemonsAlive(s); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			if len(down) == 0 {
				return fmt.Errorf("BGP sessions did not stay established for %s within %s (they flap; see clos lab status)", settle, o.Wait)
			}
			return fmt.Errorf("BGP sessions not up after %s: %s", o.Wait, strings.Join(down, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	s.Ready = true
	if err := s.Save(); err != nil {
		return err
	}
	say("up: %d switches, %d servers, %d links; state in %s", len(f.Nodes), len(f.Servers), len(f.Links), s.dir)
	return nil
}

// serverRoutes puts a server's planned routes in place. The kernel drops
// them when their link goes down, so restore calls this too.
func serverRoutes(ctx context.Context, s *State, h *plan.FabricHost) error {
	return installServerRoutes(ctx, Netns(s.Prefix, h.Name), *h)
}

func fabricNode(f *plan.Fabric, name string) *plan.FabricNode {
	for i := range f.Nodes {
		if f.Nodes[i].Name == name {
			return &f.Nodes[i]
		}
	}
	return nil
}

// settle is how long every session must stay established before up
// reports the lab up.
const settle = 2 * time.Second

// frrDaemons start in this order: bgpd and bfdd connect to zebra.
var frrDaemons = []string{"zebra", "bgpd", "bfdd"}

// startDaemon starts a switch's routing daemon and records its pids.
func startDaemon(ctx context.Context, n *Node, closd string) error {
	n.Pids = nil
	if n.Kind == KindClosd {
		pid, err := startClosd(n, closd)
		if err != nil {
			return err
		}
		n.Pids = []int{pid}
		return nil
	}
	if err := os.MkdirAll(n.RunDir, 0o755); err != nil {
		return err
	}
	// FRR drops privileges to the frr user, which must own its dir.
	if uid, gid, err := frrIDs(); err == nil {
		_ = os.Chown(n.RunDir, uid, gid)
	}
	for _, d := range frrDaemons {
		pidf := filepath.Join(n.RunDir, d+".pid")
		_ = os.Remove(pidf)
		if _, err := nsRun(ctx, n.Netns, filepath.Join(FRRDir, d), "-d", "-N", n.Netns, "-i", pidf); err != nil {
			return fmt.Errorf("%s: starting %s: %w", n.Name, d, err)
		}
		pid, err := readPid(pidf)
		if err != nil {
			return fmt.Errorf("%s: %s started but wrote no pid file: %v", n.Name, d, err)
		}
		n.Pids = append(n.Pids, pid)
	}
	// The daemons' vty sockets appear shortly after they fork. The plan's
	// frr.conf carries everything the lab needs (no zebra nexthop kernel
	// enable among it): it is applied as planned.
	var err error
	for try := 0; try < 40; try++ {
		if _, err = nsRun(ctx, n.Netns, "vtysh", "-N", n.Netns, "-f", n.Config); err == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("%s: applying frr.conf: %w", n.Name, err)
}

func frrIDs() (int, int, error) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 3 && f[0] == "frr" {
			uid, e1 := strconv.Atoi(f[2])
			gid, e2 := strconv.Atoi(f[3])
			if e1 == nil && e2 == nil {
				return uid, gid, nil
			}
		}
	}
	return 0, 0, errors.New("no frr user")
}

func readPid(path string) (int, error) {
	var err error
	for try := 0; try < 20; try++ {
		var b []byte
		if b, err = os.ReadFile(path); err == nil {
			var pid int
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				return pid, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, err
}

func daemonsAlive(s *State) error {
	for _, n := range s.Nodes {
		for _, pid := range n.Pids {
			if !alive(pid) {
				msg := fmt.Sprintf("%s's %s daemon (pid %d) died", n.Name, n.Kind, pid)
				if n.Log != "" {
					msg += ": " + tail(n.Log, 5)
				}
				return errors.New(msg)
			}
		}
	}
	return nil
}

func tail(path string, lines int) string {
	b, _ := os.ReadFile(path)
	ls := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, " | ")
}

// Session is one end of a BGP session as a switch sees it, tied to the
// fabric interface it runs over.
type Session struct {
	Node      string `json:"node"`
	Interface string `json:"interface"`
	Peer      string `json:"peer"` // NODE:IFACE at the other end
	Neighbor  string `json:"neighbor,omitempty"`
	State     string `json:"state"`
	Uptime    string `json:"uptime,omitempty"`
	Prefixes  int    `json:"prefixes-received"`
}

func (x Session) String() string {
	nb := x.Neighbor
	if nb == "" {
		nb = "no neighbor configured"
	}
	return fmt.Sprintf("%s:%s -> %s (%s) %s", x.Node, x.Interface, x.Peer, nb, x.State)
}

// Sessions reads the state of every session the plan expects, one entry per
// switch-to-switch interface end.
func Sessions(ctx context.Context, s *State, f *plan.Fabric) ([]Session, error) {
	switches := switchNames(f)
	var out []Session
	for _, n := range s.Nodes {
		if n.Role == plan.RoleServer {
			continue
		}
		fn := fabricNode(f, n.Name)
		var peers []peerState
		if n.Kind == KindFRR {
			peers = frrPeers(ctx, n)
		} else {
			peers = closdPeers(ctx, n)
		}
		for _, ifc := range fn.Interfaces {
			if ifc.Kind != plan.KindFabric || !switches[strings.SplitN(ifc.Peer, ":", 2)[0]] {
				continue
			}
			x := Session{Node: n.Name, Interface: ifc.Name, Peer: ifc.Peer, State: "Idle"}
			for _, p := range peers {
				if p.matches(ifc) {
					x.Neighbor, x.State, x.Uptime, x.Prefixes = p.addr, p.state, p.uptime, p.pfx
					break
				}
			}
			out = append(out, x)
		}
	}
	return append(out, hostSessions(ctx, s, f)...), nil
}

type peerState struct {
	addr, state, uptime string
	// desc is closd's neighbor description, which the planner sets to the
	// peer's NODE:IFACE: it names the link even for unnumbered sessions.
	desc string
	pfx  int
}

func (p peerState) matches(ifc plan.FabricInterface) bool {
	if p.addr == ifc.Name || (p.desc != "" && p.desc == ifc.Peer) {
		return true
	}
	for _, a := range ifc.Addresses {
		if strings.Contains(p.addr, ".") == a.Addr().Is4() && prefixHas(a.Masked().String(), p.addr) && p.addr != a.Addr().String() {
			return true
		}
	}
	return false
}

func frrPeers(ctx context.Context, n Node) []peerState {
	raw, err := nsRun(ctx, n.Netns, "vtysh", "-N", n.Netns, "-c", "show bgp summary json")
	if err != nil {
		return nil
	}
	var fams map[string]struct {
		Peers map[string]struct {
			State    string `json:"state"`
			Uptime   string `json:"peerUptime"`
			PfxRcd   int    `json:"pfxRcd"`
			Hostname string `json:"hostname"`
		} `json:"peers"`
	}
	if i := strings.Index(raw, "{"); i < 0 || json.Unmarshal([]byte(raw[i:]), &fams) != nil {
		return nil
	}
	var ps []peerState
	for _, fam := range sortedKeys(fams) {
		for _, a := range sortedKeys(fams[fam].Peers) {
			p := fams[fam].Peers[a]
			ps = append(ps, peerState{addr: a, state: p.State, uptime: p.Uptime, pfx: p.PfxRcd})
		}
	}
	return ps
}

// closdPeers asks the node's closd for its sessions over its API socket.
// A daemon that does not answer (killed by fail, still starting) has no
// sessions to report.
func closdPeers(ctx context.Context, n Node) []peerState {
	if n.Socket == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sum, err := api.NewClient(n.Socket).Summary(ctx)
	if err != nil {
		return nil
	}
	var out []peerState
	for _, nb := range sum.Neighbors {
		x := peerState{addr: nb.Address.String(), desc: nb.Description, state: nb.State, pfx: nb.PrefixesReceived}
		if nb.State == "Established" {
			x.uptime = (time.Duration(nb.UptimeSeconds) * time.Second).String()
		}
		out = append(out, x)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
