package daemon

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/closnet/clos/internal/bfd"
	"github.com/closnet/clos/internal/config"
)

// The two-daemon BFD harness: a on 127.0.0.1 and b on 127.0.0.2 with BGP
// between them over TCP and BFD on an in-memory network the test can cut.

var bfdIPA, bfdIPB = netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")

// bfdPairOpts are the BFD timers of both daemons and how b runs BFD.
type bfdPairOpts struct {
	// interval (ms) and multiplier: 100 x 3 for tests about detection; a
	// test that only needs BFD to stay Up takes a detection time a loaded
	// machine (-race, 2 cores, other packages' tests beside) cannot reach
	// by stalling a daemon.
	interval, multiplier int
	// bStandalone makes b's session a standalone BFD peer (bfd.peers),
	// which never acts on BGP: when BFD fails only a drops BGP, so a is
	// the one that sends Cease/BFD Down. With both acting, b (told by a's
	// BFD Down packets) can get its NOTIFICATION in first.
	bStandalone bool
}

// steadyBFD is 300 ms x 10: BFD that does not flap when a daemon stalls.
var steadyBFD = bfdPairOpts{interval: 300, multiplier: 10}

// bfdPairConfigs are the two daemons' configs: a with BFD as the bgp
// default, b with the neighbor's own timers (or a standalone peer), and a
// BGP hold time (9 s) far longer than the BFD detection time.
func bfdPairConfigs(t *testing.T, po bfdPairOpts) (a, b *config.Config) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	a = parse(t, "a.yaml", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 3, hold: 9}, bfd: {interval: %d, multiplier: %d}}
networks: [10.1.0.0/24]
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    port: %d
    bfd: true
`, pa, po.interval, po.multiplier, pb))
	bBFD := fmt.Sprintf("\n    bfd: {interval: %d, multiplier: %d}\n", po.interval, po.multiplier)
	if po.bStandalone {
		bBFD = fmt.Sprintf(`
bfd:
  peers:
    - {address: 127.0.0.1, local: 127.0.0.2, interval: %d, multiplier: %d}
`, po.interval, po.multiplier)
	}
	b = parse(t, "b.yaml", fmt.Sprintf(`
router-id: 10.0.0.2
asn: 65002
listen: {address: 127.0.0.2, port: %d}
bgp: {timers: {keepalive: 3, hold: 9}}
networks: [10.2.0.0/24]
neighbors:
  - address: 127.0.0.1
    remote-as: 65001
    port: %d%s`, pb, pa, bBFD))
	return a, b
}

type bfdPair struct {
	a, b *running
	mem  *bfd.MemNetwork
}

// newBFDPair makes the network; aliases for the daemons' second addresses
// go on it before start.
func newBFDPair() *bfdPair { return &bfdPair{mem: bfd.NewMemNetwork()} }

// start runs a (config ca, options oa) and b (cb, ob), each with its BFD
// endpoint on the pair's network.
func (p *bfdPair) start(t *testing.T, ca, cb *config.Config, oa, ob Options) *bfdPair {
	t.Helper()
	oa.BFDTransport, ob.BFDTransport = p.mem.Endpoint(bfdIPA, 0), p.mem.Endpoint(bfdIPB, 0)
	p.a = start(t, "a", ca, oa)
	p.b = start(t, "b", cb, ob)
	return p
}

// startBFDPair starts a and b with bfdPairConfigs(po) and options o.
func startBFDPair(t *testing.T, po bfdPairOpts, o Options) *bfdPair {
	t.Helper()
	ca, cb := bfdPairConfigs(t, po)
	return newBFDPair().start(t, ca, cb, o, o)
}

// up reports BGP Established and BFD Up on both sides, and b's route in
// a's kernel.
func (p *bfdPair) up(t *testing.T) func() (bool, string) {
	return func() (bool, string) {
		na, nb := neighbor(t, p.a.d, "127.0.0.2"), neighbor(t, p.b.d, "127.0.0.1")
		if na.BFD == nil {
			return false, "no BFD status on a"
		}
		sb := bfdSession(t, p.b.d, "127.0.0.1")
		return na.State == "Established" && nb.State == "Established" && na.BFD.State == "Up" && sb.State == "Up" &&
				kernelHas(p.a.fake, "10.2.0.0/24"),
			fmt.Sprintf("a %s/%s b %s/%s, a's kernel: %v", na.State, na.BFD.State, nb.State, sb.State, p.a.fake.Snapshot().Routes)
	}
}

// cutBToA loses (or, with false, restores) b's BFD packets to a; BGP on
// TCP still flows.
func (p *bfdPair) cutBToA(cut bool) { p.mem.Drop(bfdIPB, bfdIPA, cut) }
