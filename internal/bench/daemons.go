package bench

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// FRRDir holds FRR's daemons (Debian package frr).
const FRRDir = "/usr/lib/frr"

// Names of the daemons clos bench knows, in the order it runs them.
const (
	Closd = "closd"
	FRR   = "frr"
	BIRD  = "bird"
	GoBGP = "gobgp"
)

// DefaultDaemons is every daemon, closd first: it is the baseline.
var DefaultDaemons = []string{Closd, FRR, BIRD, GoBGP}

// daemonInfo is what the benchmark knows of a daemon before running it.
type daemonInfo struct {
	// binaries must all exist; the first one answers the version query.
	binaries func(o *Options) []string
	// pkg is the Debian package with the binaries; for closd, how to build it.
	pkg string
	// canFIB: the daemon can program the kernel's routing table.
	canFIB bool
}

var daemons = map[string]daemonInfo{
	Closd: {binaries: func(o *Options) []string { return []string{o.Closd} }, pkg: "build it: go build -o bin/ ./cmd/closd, or pass --closd PATH", canFIB: true},
	FRR: {binaries: func(*Options) []string {
		return []string{filepath.Join(FRRDir, "bgpd"), filepath.Join(FRRDir, "zebra")}
	}, pkg: "apt-get install frr", canFIB: true},
	BIRD:  {binaries: func(*Options) []string { return []string{"bird"} }, pkg: "apt-get install bird2", canFIB: true},
	GoBGP: {binaries: func(*Options) []string { return []string{"gobgpd"} }, pkg: "apt-get install gobgpd"},
}

// ParseDaemons reads --daemons: a comma-separated list of known daemons,
// each at most once.
func ParseDaemons(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, d := range strings.Split(s, ",") {
		d = strings.TrimSpace(d)
		if _, ok := daemons[d]; !ok {
			return nil, fmt.Errorf("--daemons: unknown daemon %q; valid: %s", d, strings.Join(DefaultDaemons, ", "))
		}
		if seen[d] {
			return nil, fmt.Errorf("--daemons: %s is listed twice", d)
		}
		seen[d] = true
		out = append(out, d)
	}
	return out, nil
}

// AS numbers and router IDs of the benchmark's topology. Both feeders
// share an AS so that their paths are equal for multipath.
const (
	dutAS    = 65000
	feederAS = 65100
	sinkAS   = 65200
)

var dutID = netip.MustParseAddr("10.0.0.1")

// link is one veth between the DUT's namespace and the speakers'.
type link struct {
	role      string // feeder, feeder2, sink
	dut, peer netip.Addr
	peerAS    uint32
	peerID    netip.Addr
}

// layout is one DUT run's topology and files.
type layout struct {
	dir   string // the run's directory: configs, logs, sockets
	fib   bool
	links []link // feeders first, the sink last
}

func newLayout(dir string, ecmp, fib bool) *layout {
	mk := func(role string, i int, as uint32) link {
		return link{
			role:   role,
			dut:    netip.AddrFrom4([4]byte{10, 0, byte(i), 1}),
			peer:   netip.AddrFrom4([4]byte{10, 0, byte(i), 2}),
			peerAS: as,
			peerID: netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i)}),
		}
	}
	l := &layout{dir: dir, fib: fib}
	l.links = append(l.links, mk("feeder", 1, feederAS))
	if ecmp {
		l.links = append(l.links, mk("feeder2", 2, feederAS))
	}
	l.links = append(l.links, mk("sink", 3, sinkAS))
	return l
}

func (l *layout) sink() link { return l.links[len(l.links)-1] }

func (l *layout) feeders() []link { return l.links[:len(l.links)-1] }

// proc is one process of a DUT: its command line and where its output goes.
type proc struct {
	name string
	args []string
}

// dutSpec is how to run a daemon on a layout: files to write in the
// run's directory and processes to start, in order.
type dutSpec struct {
	files map[string]string
	procs []proc
	fib   bool // the daemon programs the kernel in this run
}

func (l *layout) path(name string) string { return filepath.Join(l.dir, name) }

// spec builds the configuration of daemon d. Every daemon gets the same
// session timers (keepalive 30 s, hold 90 s), no advertisement interval,
// multipath up to 64 paths, and no policy beyond accepting and passing on
// everything; see docs/bench.md.
func (l *layout) spec(d string, o *Options) (dutSpec, error) {
	switch d {
	case Closd:
		return l.closdSpec(o.Closd), nil
	case FRR:
		return l.frrSpec(), nil
	case BIRD:
		return l.birdSpec(), nil
	case GoBGP:
		return l.gobgpSpec(), nil
	}
	return dutSpec{}, fmt.Errorf("unknown daemon %q", d)
}

func (l *layout) closdSpec(bin string) dutSpec {
	var b strings.Builder
	fmt.Fprintf(&b, "router-id: %s\nasn: %d\nlog: {level: warn}\napi: {socket: %s}\nbgp:\n  timers: {keepalive: 30, hold: 90}\n  max-paths: 64\nneighbors:\n",
		dutID, dutAS, l.path("closd.sock"))
	for _, k := range l.links {
		fmt.Fprintf(&b, "  - address: %s\n    remote-as: %d\n", k.peer, k.peerAS)
	}
	args := []string{bin, "--config", l.path("closd.yaml"), "--api-socket", l.path("closd.sock"), "--log-format", "json"}
	if !l.fib {
		args = append(args, "--fib=false")
	}
	return dutSpec{files: map[string]string{"closd.yaml": b.String()}, procs: []proc{{"closd", args}}, fib: l.fib}
}

func (l *layout) frrSpec() dutSpec {
	var b strings.Builder
	// The datacenter profile sends updates without an advertisement
	// interval, as every other daemon here does.
	fmt.Fprintf(&b, "frr defaults datacenter\nhostname dut\nlog file %s warnings\n", l.path("bgpd.log"))
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n timers bgp 30 90\n", dutAS, dutID)
	for _, k := range l.links {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers connect 1\n", k.peer, k.peerAS, k.peer)
	}
	b.WriteString(" address-family ipv4 unicast\n  maximum-paths 64\n")
	for _, k := range l.links {
		fmt.Fprintf(&b, "  neighbor %s activate\n", k.peer)
	}
	b.WriteString(" exit-address-family\n!\n")
	zserv := l.path("zserv.api")
	bgpd := []string{filepath.Join(FRRDir, "bgpd"), "-S", "-f", l.path("bgpd.conf"), "-i", l.path("bgpd.pid"), "--vty_socket", l.dir, "-z", zserv}
	files := map[string]string{"bgpd.conf": b.String()}
	if !l.fib {
		// -Z: bgpd alone, without zebra, the way FRR documents running
		// BGP that never touches the kernel.
		bgpd = append(bgpd, "-Z")
		return dutSpec{files: files, procs: []proc{{"bgpd", bgpd}}}
	}
	files["zebra.conf"] = fmt.Sprintf("hostname dut\nlog file %s warnings\n", l.path("zebra.log"))
	zebra := []string{filepath.Join(FRRDir, "zebra"), "-f", l.path("zebra.conf"), "-i", l.path("zebra.pid"), "--vty_socket", l.dir, "-z", zserv}
	return dutSpec{files: files, procs: []proc{{"zebra", zebra}, {"bgpd", bgpd}}, fib: true}
}

func (l *layout) birdSpec() dutSpec {
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\nlog \"%s\" { warning, error, fatal };\nprotocol device {}\n", dutID, l.path("bird.log"))
	if l.fib {
		b.WriteString("protocol kernel {\n  merge paths on;\n  ipv4 { export all; import none; };\n}\n")
	}
	for i, k := range l.links {
		fmt.Fprintf(&b, "protocol bgp %s%d {\n  local %s as %d;\n  neighbor %s as %d;\n  hold time 90;\n  keepalive time 30;\n  connect delay time 1;\n  start delay time 1;\n  ipv4 { import all; export all; };\n}\n",
			strings.ReplaceAll(k.role, "2", ""), i, k.dut, dutAS, k.peer, k.peerAS)
	}
	args := []string{"bird", "-f", "-c", l.path("bird.conf"), "-s", l.path("bird.ctl"), "-P", l.path("bird.pid")}
	return dutSpec{files: map[string]string{"bird.conf": b.String()}, procs: []proc{{"bird", args}}, fib: l.fib}
}

func (l *layout) gobgpSpec() dutSpec {
	var b strings.Builder
	fmt.Fprintf(&b, "[global.config]\n  as = %d\n  router-id = \"%s\"\n  port = 179\n[global.use-multiple-paths.config]\n  enabled = true\n", dutAS, dutID)
	for _, k := range l.links {
		fmt.Fprintf(&b, "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"%s\"\n    peer-as = %d\n  [neighbors.timers.config]\n    connect-retry = 1\n    idle-hold-time-after-reset = 1\n    hold-time = 90\n    keepalive-interval = 30\n    minimum-advertisement-interval = 0\n  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n", k.peer, k.peerAS)
	}
	args := []string{"gobgpd", "-f", l.path("gobgpd.toml"), "--api-hosts", "127.0.0.1:50051", "--pprof-disable", "-l", "warn"}
	// GoBGP has no FIB of its own (it needs zebra for that): never fib.
	return dutSpec{files: map[string]string{"gobgpd.toml": b.String()}, procs: []proc{{"gobgpd", args}}}
}
