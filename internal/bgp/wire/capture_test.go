package wire_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/closnet/clos/internal/bgp/wire"
)

// A capture is one direction of a real session recorded by
// scripts/capture-bgp.sh (see docs/wire-testing.md).
type capture struct {
	name     string // file name without .hex
	from, to string // daemon names: frr, bird, gobgp
	header   string
	opts     wire.Options // the receiver's view of the session
	msgs     [][]byte
}

var captureFamilies = map[string]wire.Family{"ipv4-unicast": wire.IPv4Unicast, "ipv6-unicast": wire.IPv6Unicast}

func familySet(t testing.TB, file, v string) map[wire.Family]bool {
	if v == "-" {
		return nil
	}
	m := map[wire.Family]bool{}
	for _, f := range strings.Split(v, ",") {
		fam, ok := captureFamilies[f]
		if !ok {
			t.Fatalf("%s: header names unknown family %q", file, f)
		}
		m[fam] = true
	}
	return m
}

func loadCapture(t testing.TB, path string) *capture {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &capture{name: strings.TrimSuffix(filepath.Base(path), ".hex")}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		if h, ok := strings.CutPrefix(s, "# "); ok {
			if c.header != "" {
				t.Fatalf("%s:%d: second header line", path, line)
			}
			c.header = h
			for _, kv := range strings.Fields(h) {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "from":
					c.from, _, _ = strings.Cut(v, "/")
				case "to":
					c.to, _, _ = strings.Cut(v, "/")
				case "as4":
					c.opts.AS4 = v == "1"
				case "extmsg":
					c.opts.ExtendedMessage = v == "1"
				case "addpath":
					c.opts.AddPathRecv = familySet(t, path, v)
				case "enh":
					c.opts.ExtendedNextHop = familySet(t, path, v)
				default:
					t.Fatalf("%s:%d: unknown header field %q", path, line, k)
				}
			}
			continue
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		c.msgs = append(c.msgs, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if c.header == "" || c.from == "" || c.to == "" {
		t.Fatalf("%s: missing or incomplete header line", path)
	}
	return c
}

func loadCaptures(t testing.TB) []*capture {
	files, err := filepath.Glob("testdata/captures/*.hex")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 6 {
		t.Fatalf("found %d capture files, want 6 (3 pairs x 2 directions): %v", len(files), files)
	}
	var cs []*capture
	for _, f := range files {
		cs = append(cs, loadCapture(t, f))
	}
	return cs
}

// senderOpts is the same session seen from the sender: what it sends with
// path identifiers, we would send with them.
func senderOpts(o wire.Options) *wire.Options {
	s := o
	s.AddPathSend = o.AddPathRecv
	s.AddPathRecv = nil
	return &s
}

// What scripts/capture-bgp.sh configures. Keep in step with it.
const (
	asFRR   = 4200000001
	asBIRD  = 4200000002
	asGoBGP = 4200000003
)

var (
	daemonAS       = map[string]uint32{"frr": asFRR, "bird": asBIRD, "gobgp": asGoBGP}
	daemonRouterID = map[string]netip.Addr{
		"frr": netip.MustParseAddr("10.255.0.1"), "bird": netip.MustParseAddr("10.255.0.2"), "gobgp": netip.MustParseAddr("10.255.0.3"),
	}
	// Third octet of the IPv4 /24s and third group of the IPv6 /64s each
	// daemon originates (12 of each).
	daemonBlock = map[string]int{"frr": 11, "bird": 12, "gobgp": 13}
)

// expectedRoute is what a daemon's configuration gives one of its own
// prefixes, as seen by its eBGP peer.
type expectedRoute struct {
	origin      wire.Origin
	path        []uint32
	med         *uint32
	communities []uint32
	large       []wire.LargeCommunity
	ext         []wire.ExtCommunity
}

// siteOfOrigin is the 2-octet-AS route origin community (RFC 4360 5), which
// package wire has no constructor for.
func siteOfOrigin(as uint16, local uint32) wire.ExtCommunity {
	return wire.ExtCommunity{0x00, 0x03, byte(as >> 8), byte(as), byte(local >> 24), byte(local >> 16), byte(local >> 8), byte(local)}
}

func u32(v uint32) *uint32 { return &v }

func comm(as, v uint32) uint32 { return as<<16 | v }

// originated returns the prefixes a daemon announces itself, with their
// configured attributes.
func originated(daemon string) map[netip.Prefix]expectedRoute {
	m := map[netip.Prefix]expectedRoute{}
	blk := daemonBlock[daemon]
	for n := range 12 {
		p4 := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", blk, n))
		p6 := netip.MustParsePrefix(fmt.Sprintf("2001:db8:%d:%d::/64", blk, n)) // the script writes n in decimal
		switch daemon {
		case "frr":
			// route-maps RM-A, RM-B, RM-C in turn; IPv6 starts at RM-B.
			rm := func(i int) expectedRoute {
				switch i % 3 {
				case 0:
					return expectedRoute{origin: wire.OriginIGP, path: []uint32{asFRR}, med: u32(50),
						communities: []uint32{comm(65001, 100), comm(65001, 200)},
						large:       []wire.LargeCommunity{{Global: asFRR, Local1: 1, Local2: 1}, {Global: asFRR, Local1: 1, Local2: 2}},
						ext:         []wire.ExtCommunity{wire.RouteTargetAS2(65001, 1)}}
				case 1:
					// FRR sends a network statement's metric, 0, as MED.
					return expectedRoute{origin: wire.OriginIncomplete, path: []uint32{asFRR, asFRR, asFRR}, med: u32(0),
						communities: []uint32{comm(65001, 300)},
						large:       []wire.LargeCommunity{{Global: asFRR, Local1: 2, Local2: 1}},
						ext:         []wire.ExtCommunity{siteOfOrigin(65001, 2)}}
				}
				return expectedRoute{origin: wire.OriginEGP, path: []uint32{asFRR}, med: u32(7)}
			}
			m[p4] = rm(n)
			m[p6] = rm(n + 1)
		case "bird":
			r4 := expectedRoute{origin: wire.OriginIGP, path: []uint32{asBIRD},
				communities: []uint32{comm(65002, 100)},
				large:       []wire.LargeCommunity{{Global: asBIRD, Local1: 4, Local2: 24}}}
			r6 := expectedRoute{origin: wire.OriginIGP, path: []uint32{asBIRD},
				communities: []uint32{comm(65002, 600)},
				large:       []wire.LargeCommunity{{Global: asBIRD, Local1: 6, Local2: 1}}}
			if n < 4 {
				r4.med = u32(20)
				r4.ext = []wire.ExtCommunity{wire.RouteTargetAS2(65002, 1)}
				r6.med = u32(60)
				r6.ext = []wire.ExtCommunity{siteOfOrigin(65002, 6)}
			} else {
				r4.path = []uint32{asBIRD, asBIRD}
				r4.origin = wire.OriginIncomplete
				r4.communities = append(r4.communities, comm(65002, 200))
				r6.origin = wire.OriginEGP
			}
			m[p4], m[p6] = r4, r6
		case "gobgp":
			var r expectedRoute
			switch n % 3 {
			case 0:
				r = expectedRoute{origin: wire.OriginIGP, path: []uint32{asGoBGP}, med: u32(30),
					communities: []uint32{comm(65003, 100), comm(65003, 101)},
					large:       []wire.LargeCommunity{{Global: asGoBGP, Local1: 3, Local2: 1}}}
			case 1:
				r = expectedRoute{origin: wire.OriginEGP, path: []uint32{asGoBGP, 65100},
					communities: []uint32{comm(65003, 200)}}
			case 2:
				r = expectedRoute{origin: wire.OriginIncomplete, path: []uint32{asGoBGP}, med: u32(0),
					large: []wire.LargeCommunity{{Global: asGoBGP, Local1: 3, Local2: 2}, {Global: asGoBGP, Local1: 3, Local2: 3}}}
			}
			m[p4], m[p6] = r, r
		}
	}
	return m
}

type seenRoute struct {
	family wire.Family
	nlri   wire.NLRI
	attrs  *wire.PathAttrs
}

func TestCaptures(t *testing.T) {
	caps := loadCaptures(t)
	opens := map[string]*wire.Open{} // by capture name
	for _, c := range caps {
		if o, err := wire.Parse(c.msgs[0], &c.opts); err == nil {
			if o, ok := o.(*wire.Open); ok {
				opens[c.name] = o
			}
		}
	}
	for _, c := range caps {
		t.Run(c.name, func(t *testing.T) {
			var routes []seenRoute
			counts := map[wire.MessageType]int{}
			eor := map[wire.Family]bool{}
			for i, m := range c.msgs {
				msg, err := wire.Parse(m, &c.opts)
				if err != nil {
					t.Fatalf("message %d (%x): %v", i, m, err)
				}
				counts[msg.Type()]++
				switch v := msg.(type) {
				case *wire.Open:
					if i != 0 {
						t.Errorf("message %d: OPEN after the first message", i)
					}
					checkCaptureOpen(t, c, v, opens)
				case *wire.Update:
					if f, ok := v.EndOfRIB(); ok {
						eor[f] = true
					}
					v.Reachable(func(f wire.Family, n wire.NLRI) {
						routes = append(routes, seenRoute{f, n, v.Attrs})
					})
				case *wire.Notification:
					// BIRD closes its GoBGP session at the end of the run.
					if c.from != "bird" || c.to != "gobgp" || v.Code != wire.CodeCease || v.Subcode != wire.SubAdminShutdown {
						t.Errorf("message %d: unexpected %v", i, v)
					} else if s, ok := v.ShutdownMessage(); !ok || s != "capture done" {
						t.Errorf("message %d: shutdown communication %q, %v; want \"capture done\"", i, s, ok)
					}
				case *wire.RouteRefresh:
					if v.Family != wire.IPv4Unicast && v.Family != wire.IPv6Unicast {
						t.Errorf("message %d: ROUTE-REFRESH for %v", i, v.Family)
					}
				}
				roundTrip(t, i, m, msg, &c.opts)
			}
			if counts[wire.TypeOpen] != 1 || counts[wire.TypeUpdate] == 0 || counts[wire.TypeKeepalive] == 0 {
				t.Errorf("message counts %v: want one OPEN, some UPDATEs and KEEPALIVEs", counts)
			}
			checkCaptureRoutes(t, c, routes)
			// FRR and BIRD mark the end of the initial table to a peer that
			// sent the Graceful Restart capability (RFC 4724 2).
			pair, _, _ := strings.Cut(c.name, "-"+c.from+"2")
			if peer := opens[pair+"-"+c.to+"2"+c.from]; peer != nil && peer.Caps.GracefulRestart != nil && c.from != "gobgp" {
				if !eor[wire.IPv4Unicast] || !eor[wire.IPv6Unicast] {
					t.Errorf("End-of-RIB seen for %v, want both unicast families", eor)
				}
			}
		})
	}
}

func checkCaptureOpen(t *testing.T, c *capture, o *wire.Open, opens map[string]*wire.Open) {
	t.Helper()
	if o.AS != daemonAS[c.from] || o.RouterID != daemonRouterID[c.from] {
		t.Errorf("OPEN from %s: AS %d router-id %v, want %d %v", c.from, o.AS, o.RouterID, daemonAS[c.from], daemonRouterID[c.from])
	}
	if !o.Caps.AS4 || !o.Caps.RouteRefresh || !o.Caps.Has(wire.IPv4Unicast) || !o.Caps.Has(wire.IPv6Unicast) {
		t.Errorf("OPEN from %s lacks AS4, route refresh or a unicast family: %+v", c.from, o.Caps)
	}
	pairFRRBIRD := (c.from == "frr" && c.to == "bird") || (c.from == "bird" && c.to == "frr")
	enh := slices.Contains(o.Caps.ExtendedNextHop, wire.ExtendedNextHop{NLRI: wire.IPv4Unicast, NextHopAFI: wire.AFIIPv6})
	if pairFRRBIRD && (!enh || !o.Caps.ExtendedMessage) {
		t.Errorf("OPEN from %s to %s lacks extended next hop or extended message: %+v", c.from, c.to, o.Caps)
	}
	if c.from == "frr" && (o.Caps.FQDN == nil || o.Caps.FQDN.Host != "frr") {
		t.Errorf("OPEN from FRR: hostname capability %+v, want host frr", o.Caps.FQDN)
	}
	// The options the extractor recorded are what Negotiate makes of the
	// two OPENs, seen from the receiver.
	pair, _, _ := strings.Cut(c.name, "-"+c.from+"2")
	peer := opens[pair+"-"+c.to+"2"+c.from]
	if peer == nil {
		t.Fatalf("no OPEN in the other direction of %s", c.name)
	}
	got := wire.Negotiate(&peer.Caps, &o.Caps)
	if d := cmp.Diff(c.opts.AddPathRecv, got.AddPathRecv, cmpopts.EquateEmpty()); d != "" || got.AS4 != c.opts.AS4 || got.ExtendedMessage != c.opts.ExtendedMessage {
		t.Errorf("Negotiate = %+v, header says %+v", got, c.opts)
	}
	if d := cmp.Diff(c.opts.ExtendedNextHop, got.ExtendedNextHop, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("Negotiate extended next hop differs from header (-header +negotiated):\n%s", d)
	}
}

func checkCaptureRoutes(t *testing.T, c *capture, routes []seenRoute) {
	t.Helper()
	own := originated(c.from)
	universe := map[netip.Prefix]bool{netip.MustParsePrefix("10.11.0.0/20"): true} // FRR's aggregate
	for _, d := range []string{"frr", "bird", "gobgp"} {
		for p := range originated(d) {
			universe[p] = true
		}
	}
	seen := map[netip.Prefix]bool{}
	pathIDs := map[wire.Family]bool{}
	for _, r := range routes {
		p := r.nlri.Prefix()
		if !universe[p] {
			t.Errorf("%v announced, but no daemon originates it", p)
		}
		if (p.Addr().Is4()) != (r.family == wire.IPv4Unicast) {
			t.Errorf("%v announced as %v", p, r.family)
		}
		if r.nlri.PathID != 0 {
			pathIDs[r.family] = true
		}
		if c.from == "frr" && p == netip.MustParsePrefix("10.11.0.0/20") {
			a := r.attrs
			if !a.AtomicAggregate && !a.HasAggregator {
				t.Errorf("aggregate %v has neither ATOMIC_AGGREGATE nor AGGREGATOR", p)
			}
			if a.HasAggregator && (a.Aggregator.AS != asFRR || a.Aggregator.Addr != daemonRouterID["frr"]) {
				t.Errorf("aggregate %v: aggregator %+v", p, a.Aggregator)
			}
			seen[p] = true
			continue
		}
		want, ok := own[p]
		if !ok {
			continue // learned from the third daemon and passed on
		}
		seen[p] = true
		checkCaptureAttrs(t, c, r, want)
	}
	for p := range own {
		if !seen[p] {
			t.Errorf("%s never announced its own %v", c.from, p)
		}
	}
	if c.from == "frr" && !seen[netip.MustParsePrefix("10.11.0.0/20")] {
		t.Errorf("FRR never announced its aggregate 10.11.0.0/20")
	}
	for f := range c.opts.AddPathRecv {
		if !pathIDs[f] {
			t.Errorf("add-path negotiated for %v, but every path id is 0", f)
		}
	}
	for f := range pathIDs {
		if !c.opts.AddPathRecv[f] {
			t.Errorf("path ids decoded for %v without add-path", f)
		}
	}
}

func checkCaptureAttrs(t *testing.T, c *capture, r seenRoute, want expectedRoute) {
	t.Helper()
	a := r.attrs
	p := r.nlri.Prefix()
	if a == nil || !a.HasOrigin || !a.HasASPath {
		t.Errorf("%v: mandatory attributes missing: %+v", p, a)
		return
	}
	var path []uint32
	for _, s := range a.ASPath {
		if s.Type != wire.ASSequence {
			t.Errorf("%v: AS path %v has a non-sequence segment", p, a.ASPath)
		}
		path = append(path, s.ASNs...)
	}
	got := expectedRoute{origin: a.Origin, path: path, communities: a.Communities, large: a.LargeCommunities, ext: a.ExtCommunities}
	if a.HasMED {
		got.med = u32(a.MED)
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(expectedRoute{}), cmpopts.EquateEmpty()); d != "" {
		t.Errorf("%v from %s (-configured +decoded):\n%s", p, c.from, d)
	}
	// Next hop: the sender's address on the link. IPv4 NLRI between FRR
	// and BIRD travels with an IPv6 next hop (RFC 8950).
	var nh netip.Addr
	if a.MPReach != nil && a.MPReach.Family == r.family {
		nh = a.MPReach.NextHop
	} else {
		nh = a.NextHop
	}
	if r.family == wire.IPv4Unicast {
		if c.opts.ExtendedNextHop[wire.IPv4Unicast] != nh.Is6() {
			t.Errorf("%v: next hop %v, extended next hop negotiated: %v", p, nh, c.opts.ExtendedNextHop[wire.IPv4Unicast])
		}
	} else if !nh.Is6() || nh.Is4In6() && c.from != "gobgp" {
		t.Errorf("%v: next hop %v", p, nh)
	}
}

// roundTrip checks that what Parse decoded encodes again (as the sender
// would, with the same negotiated options) into a message that decodes to
// the same value.
func roundTrip(t *testing.T, i int, raw []byte, m wire.Message, opts *wire.Options) {
	t.Helper()
	b, err := wire.Append(nil, m, senderOpts(*opts))
	if err != nil {
		t.Errorf("message %d: Append: %v", i, err)
		return
	}
	m2, err := wire.Parse(b, opts)
	if err != nil {
		t.Errorf("message %d: re-encoded %x does not parse: %v", i, b, err)
		return
	}
	if d := cmp.Diff(m, m2, cmpOpts); d != "" {
		t.Errorf("message %d (%x) changed in a round trip (-parsed +reparsed):\n%s", i, raw, d)
	}
}
