package lab

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/closnet/clos/internal/plan"
)

// MoveOptions say how a server moves.
type MoveOptions struct {
	// Quiet skips the gratuitous ARP / unsolicited NA a hypervisor sends
	// after a migration: the new leaf then learns the server only when it
	// next ARPs for its gateway.
	Quiet bool
}

// MoveResult describes one move.
type MoveResult struct {
	Server    string   `json:"server"`
	Port      string   `json:"port"` // the server's port, SERVER:IFACE
	From      string   `json:"from"` // leaf port, LEAF:IFACE
	To        string   `json:"to"`
	Announced []string `json:"announced,omitempty"` // addresses sent in gratuitous ARP / unsolicited NA
}

// movesFile keeps where moved server ports are attached now, in the lab's
// state dir: server port (SERVER:IFACE) -> leaf port (LEAF:IFACE).
const movesFile = "moves.json"

func loadMoves(s *State) (map[string]string, error) {
	m := map[string]string{}
	b, err := os.ReadFile(filepath.Join(s.Dir(), movesFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(s.Dir(), movesFile), err)
	}
	return m, nil
}

func saveMoves(s *State, m map[string]string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir(), movesFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.Dir(), movesFile))
}

// movePlan is a resolved move: the server's port and link, the leaf port
// it is on now and the one it goes to, with their links.
type movePlan struct {
	server               *plan.FabricHost
	port                 string // SERVER:IFACE
	link                 int    // index of the server's own link
	from, to             string // LEAF:IFACE
	fromLink, toLink     int
	fromLeaf, toLeaf     string
	addrs                []netip.Addr
	fromUplinks, srvPort []string // for the old leaf's counters
}

// serverLinkAt is the index of the server link whose leaf end is leafPort.
func serverLinkAt(f *plan.Fabric, leafPort string) int {
	for i, l := range f.Links {
		if l.Kind == plan.KindServer && endName(l.B) == leafPort {
			return i
		}
	}
	return -1
}

func leafServerPorts(f *plan.Fabric, leaf string) []string {
	var ps []string
	for _, l := range f.Links {
		if l.Kind == plan.KindServer && l.B.Node == leaf {
			ps = append(ps, endName(l.B))
		}
	}
	return ps
}

// resolveMove checks a move of server to target (LEAF or LEAF:IFACE) and
// works out its ends.
func resolveMove(s *State, f *plan.Fabric, server, target string) (*movePlan, error) {
	if f.Hosts != plan.HostsNeighbor {
		return nil, inputf("move needs a fabric planned with --hosts neighbor (servers keep their address on any leaf); this one has hosts: %s", f.Hosts)
	}
	h := serverByName(f, server)
	if h == nil {
		var ns []string
		for _, x := range f.Servers {
			ns = append(ns, x.Name)
		}
		return nil, inputf("%q: no such server; servers: %s", server, strings.Join(ns, ", "))
	}
	if len(h.Interfaces) != 1 {
		return nil, inputf("%s is dual-homed (%d ports); move moves single-homed servers (fail one of its links instead)", server, len(h.Interfaces))
	}
	mp := &movePlan{server: h, port: server + ":" + h.Interfaces[0].Name, link: -1}
	for i, l := range f.Links {
		if l.Kind == plan.KindServer && endName(l.A) == mp.port {
			mp.link = i
			mp.from = endName(l.B)
		}
	}
	if mp.link < 0 {
		return nil, fmt.Errorf("%s has no server link in the fabric", mp.port)
	}
	moves, err := loadMoves(s)
	if err != nil {
		return nil, err
	}
	if at, ok := moves[mp.port]; ok {
		mp.from = at
	}
	leaf, port, hasPort := strings.Cut(target, ":")
	n := fabricNode(f, leaf)
	if n == nil || n.Role != plan.RoleLeaf {
		var ls []string
		for _, x := range f.Nodes {
			if x.Role == plan.RoleLeaf {
				ls = append(ls, x.Name)
			}
		}
		return nil, inputf("--to %s: no leaf %q; leaves: %s", target, leaf, strings.Join(ls, ", "))
	}
	ports := leafServerPorts(f, leaf)
	if len(ports) == 0 {
		return nil, inputf("--to %s: %s has no server ports", target, leaf)
	}
	switch {
	case hasPort:
		mp.to = leaf + ":" + port
		if serverLinkAt(f, mp.to) < 0 {
			return nil, inputf("--to %s: not a server port; %s's server ports: %s", target, leaf, strings.Join(ports, ", "))
		}
	case strings.HasPrefix(endName(f.Links[mp.link].B), leaf+":"):
		mp.to = endName(f.Links[mp.link].B) // back home
	default:
		mp.to = ports[0]
	}
	if mp.to == mp.from {
		return nil, inputf("%s is on %s already", server, mp.from)
	}
	mp.fromLink, mp.toLink = serverLinkAt(f, mp.from), serverLinkAt(f, mp.to)
	if mp.fromLink < 0 {
		return nil, fmt.Errorf("%s: %s records %s at %s, not a server port of the fabric", movesFile, mp.port, server, mp.from)
	}
	mp.fromLeaf, mp.toLeaf = f.Links[mp.fromLink].B.Node, leaf
	for _, a := range h.Interfaces[0].Addresses {
		mp.addrs = append(mp.addrs, a.Addr())
	}
	if fl := fabricNode(f, mp.fromLeaf); fl != nil {
		for _, ifc := range fl.Interfaces {
			if ifc.Kind == plan.KindFabric {
				mp.fromUplinks = append(mp.fromUplinks, ifc.Name)
			}
		}
	}
	mp.srvPort = []string{f.Links[mp.fromLink].B.Interface}
	return mp, nil
}

// Move moves a server (a VM) to another leaf port, keeping its interface,
// MAC, addresses and ARP cache: its port's hypervisor end is re-enslaved
// from the old leaf port's bridge to the new one's. The old leaf's port
// stays up. Unless o.Quiet, the server then announces each address
// (gratuitous ARP, unsolicited NA), as hypervisors do after a migration.
func Move(ctx context.Context, s *State, f *plan.Fabric, server, target string, o MoveOptions) (*MoveResult, error) {
	mp, err := resolveMove(s, f, server, target)
	if err != nil {
		return nil, err
	}
	return doMove(ctx, s, mp, o)
}

func doMove(ctx context.Context, s *State, mp *movePlan, o MoveOptions) (*MoveResult, error) {
	hv := Netns(s.Prefix, hypervisor)
	if _, err := run(ctx, "ip", "-n", hv, "link", "set", hvPort(mp.link, 's'), "master", hvBridge(mp.toLink)); err != nil {
		return nil, fmt.Errorf("moving %s to %s: %w", mp.port, mp.to, err)
	}
	moves, err := loadMoves(s)
	if err != nil {
		return nil, err
	}
	if mp.toLink == mp.link {
		delete(moves, mp.port)
	} else {
		moves[mp.port] = mp.to
	}
	if err := saveMoves(s, moves); err != nil {
		return nil, err
	}
	r := &MoveResult{Server: mp.server.Name, Port: mp.port, From: mp.from, To: mp.to}
	if o.Quiet {
		return r, nil
	}
	ifname := mp.server.Interfaces[0].Name
	if err := announce(Netns(s.Prefix, mp.server.Name), ifname, mp.addrs); err != nil {
		return r, fmt.Errorf("%s moved to %s, but announcing it failed: %w", mp.server.Name, mp.to, err)
	}
	for _, a := range mp.addrs {
		r.Announced = append(r.Announced, a.String())
	}
	return r, nil
}

// Where reports the leaf port a server port is attached to now.
func Where(s *State, f *plan.Fabric, serverPort string) (string, error) {
	moves, err := loadMoves(s)
	if err != nil {
		return "", err
	}
	if at, ok := moves[serverPort]; ok {
		return at, nil
	}
	for _, l := range f.Links {
		if l.Kind == plan.KindServer && endName(l.A) == serverPort {
			return endName(l.B), nil
		}
	}
	return "", inputf("%s: no such server port", serverPort)
}

// MoveAction is move as a measured action: flows run to and from the
// server; Undo moves it back where it was. Its report says how many probe
// packets for the server still reached the old leaf (arriving from the
// fabric, or sent to the server's old port) in the first second after the
// move and after that, and when the old leaf's closd withdrew the host.
func MoveAction(s *State, f *plan.Fabric, server, target string, o MoveOptions) (*Action, error) {
	mp, err := resolveMove(s, f, server, target)
	if err != nil {
		return nil, err
	}
	back := &movePlan{}
	*back = *mp
	back.from, back.to, back.fromLink, back.toLink = mp.to, mp.from, mp.toLink, mp.fromLink
	verb := "move " + server + " --to " + target
	if o.Quiet {
		verb += " --quiet"
	}
	w := &oldLeafWatch{s: s, mp: mp}
	return &Action{
		Verb: verb, Target: server, Mode: "move",
		Apply: func(ctx context.Context) error {
			if err := w.start(ctx); err != nil {
				return err
			}
			_, err := doMove(ctx, s, mp, o)
			w.moved = time.Now()
			go w.sampleAt(context.WithoutCancel(ctx), time.Second)
			return err
		},
		Undo: func(ctx context.Context) error {
			w.stop(ctx)
			_, err := doMove(ctx, s, back, o)
			return err
		},
		Flows:  func() ([]FlowEnds, error) { return PairsWith(f, server) },
		Report: w.Report,
	}, nil
}

// oldLeafWatch counts, in the old leaf, forwarded packets for the moved
// server that arrive from the fabric or leave by the server's old port:
// traffic the fabric still sends to where the server was.
type oldLeafWatch struct {
	s     *State
	mp    *movePlan
	moved time.Time

	mu                     sync.Mutex
	at1s, total            int
	sampled, stopped, made bool
	withdrawnAfter         time.Duration
}

func (w *oldLeafWatch) table() string { return nftTable(w.s.Prefix, "move") }

func (w *oldLeafWatch) ns() string { return Netns(w.s.Prefix, w.mp.fromLeaf) }

// oldLeafRules renders the nft table that counts them.
func oldLeafRules(table string, addrs []netip.Addr, uplinks, oldPorts []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n  chain moved {\n    type filter hook forward priority 0; policy accept;\n", table)
	for _, a := range addrs {
		fam := "ip"
		if a.Is6() {
			fam = "ip6"
		}
		if len(uplinks) > 0 {
			fmt.Fprintf(&b, "    %s daddr %s iifname { %s } counter\n", fam, a, quoteList(uplinks))
		}
		fmt.Fprintf(&b, "    %s daddr %s oifname { %s } counter\n", fam, a, quoteList(oldPorts))
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

var counterRE = regexp.MustCompile(`counter packets (\d+)`)

// sumCounters adds up the packet counters of nft list output.
func sumCounters(out string) int {
	n := 0
	for _, m := range counterRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

func (w *oldLeafWatch) start(ctx context.Context) error {
	_, _ = nsRun(ctx, w.ns(), "nft", "delete", "table", "inet", w.table())
	if err := nftApply(ctx, w.ns(), oldLeafRules(w.table(), w.mp.addrs, w.mp.fromUplinks, w.mp.srvPort)); err != nil {
		return fmt.Errorf("counting packets in the old leaf %s: %w", w.mp.fromLeaf, err)
	}
	w.made = true
	return nil
}

func (w *oldLeafWatch) read(ctx context.Context) (int, error) {
	out, err := nsRun(ctx, w.ns(), "nft", "list", "table", "inet", w.table())
	if err != nil {
		return 0, err
	}
	return sumCounters(out), nil
}

func (w *oldLeafWatch) sampleAt(ctx context.Context, after time.Duration) {
	time.Sleep(time.Until(w.moved.Add(after)))
	n, err := w.read(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && !w.stopped {
		w.at1s, w.sampled = n, true
	}
}

func (w *oldLeafWatch) stop(ctx context.Context) {
	n, err := w.read(ctx)
	w.mu.Lock()
	if err == nil {
		w.total = n
	}
	w.stopped = true
	w.mu.Unlock()
	if w.made {
		_, _ = nsRun(ctx, w.ns(), "nft", "delete", "table", "inet", w.table())
	}
	if n, ok := w.s.Node(w.mp.fromLeaf); ok && n.Log != "" {
		if d, ok := withdrawnAfter(n.Log, w.moved, w.mp.addrs); ok {
			w.mu.Lock()
			w.withdrawnAfter = d
			w.mu.Unlock()
		}
	}
}

// Report is what the watch saw, for the measurement's extra fields.
func (w *oldLeafWatch) Report() map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := map[string]any{
		"from": w.mp.from, "to": w.mp.to,
		"old_leaf_packets":          w.total,
		"old_leaf_packets_after_1s": w.total - w.at1s,
	}
	if !w.sampled {
		m["old_leaf_packets_after_1s"] = w.total
	}
	if w.withdrawnAfter > 0 {
		m["old_leaf_withdrew_ms"] = float64(w.withdrawnAfter.Microseconds()) / 1000
	}
	return m
}

// withdrawnAfter finds, in a closd JSON log, the first "host route
// withdrawn" for one of addrs after since, and how long after since it
// came.
func withdrawnAfter(logPath string, since time.Time, addrs []netip.Addr) (time.Duration, bool) {
	f, err := os.Open(logPath)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return 0, false
	}
	want := map[string]bool{}
	for _, a := range addrs {
		want[netip.PrefixFrom(a, a.BitLen()).String()] = true
	}
	for _, line := range strings.Split(string(b), "\n") {
		var e struct {
			Time   time.Time `json:"time"`
			Msg    string    `json:"msg"`
			Prefix string    `json:"prefix"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Msg != "host route withdrawn" || !want[e.Prefix] || e.Time.Before(since) {
			continue
		}
		return e.Time.Sub(since), true
	}
	return 0, false
}

// Frames a hypervisor sends for a VM after a migration.

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// announcement is the frame announcing a, its ethertype and destination:
// a gratuitous ARP for IPv4, an unsolicited NA to all nodes for IPv6.
func announcement(mac net.HardwareAddr, a netip.Addr) ([]byte, uint16, net.HardwareAddr) {
	if a.Is4() {
		return garpFrame(mac, a), 0x0806, broadcastMAC
	}
	return naFrame(mac, a), 0x86dd, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
}

// garpFrame is an Ethernet broadcast gratuitous ARP request for ip from
// mac (sender and target address both ip), the form arping -U sends and
// Linux accepts with arp_accept.
func garpFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	b := make([]byte, 0, 42)
	b = append(b, broadcastMAC...)
	b = append(b, mac[:6]...)
	b = binary.BigEndian.AppendUint16(b, 0x0806)
	b = binary.BigEndian.AppendUint16(b, 1)      // Ethernet
	b = binary.BigEndian.AppendUint16(b, 0x0800) // IPv4
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, 1) // request
	a := ip.As4()
	b = append(b, mac[:6]...)
	b = append(b, a[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	b = append(b, a[:]...)
	return b
}

// naFrame is an unsolicited neighbor advertisement (RFC 4861 4.4, 7.2.6)
// for ip from mac to all nodes, with the Override flag and the target
// link-layer address option.
func naFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	src := ip.As16()
	dst := netip.MustParseAddr("ff02::1").As16()
	icmp := make([]byte, 32)
	icmp[0] = 136                                    // neighbor advertisement
	binary.BigEndian.PutUint32(icmp[4:], 0x20000000) // O: override
	copy(icmp[8:24], src[:])                         // target
	icmp[24], icmp[25] = 2, 1                        // target link-layer address, 8 octets
	copy(icmp[26:32], mac[:6])
	binary.BigEndian.PutUint16(icmp[2:], icmpv6Checksum(src, dst, icmp))
	b := make([]byte, 0, 14+40+len(icmp))
	b = append(b, 0x33, 0x33, 0, 0, 0, 1) // ff02::1 mapped to Ethernet
	b = append(b, mac[:6]...)
	b = binary.BigEndian.AppendUint16(b, 0x86dd)
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(len(icmp)))
	b = append(b, 58, 255) // ICMPv6, hop limit 255 as ND requires
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	return append(b, icmp...)
}

func icmpv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(src[:])
	add(dst[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[:4], uint32(len(msg)))
	l[7] = 58
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
