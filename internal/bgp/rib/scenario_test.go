package rib

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/closnet/clos/internal/bgp/wire"
)

// harness runs the testdata scenarios: peers are named, output is printed
// with names and decoded messages so a scenario reads like a router log.
type harness struct {
	e     *Engine
	ids   map[string]PeerID
	names map[PeerID]string
	opts  map[PeerID]*wire.Options
	now   time.Duration
}

// scenarioEpoch is the fake clock's zero; scenario times are offsets.
var scenarioEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		if !strings.HasSuffix(path, ".txt") {
			return // fuzz corpus
		}
		h := &harness{ids: map[string]PeerID{}, names: map[PeerID]string{}, opts: map[PeerID]*wire.Options{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := h.run(d)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			return out
		})
	})
}

func argVal(d *datadriven.TestData, key string) (string, bool) {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ","), true
		}
	}
	return "", false
}

func argU32(d *datadriven.TestData, key string) (uint32, bool, error) {
	v, ok := argVal(d, key)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return uint32(n), true, err
}

func parseASPath(s string) wire.ASPath {
	if s == "" {
		return nil
	}
	var asns []uint32
	for _, f := range strings.Split(s, " ") {
		n, _ := strconv.ParseUint(f, 10, 32)
		asns = append(asns, uint32(n))
	}
	return wire.ASPath{{Type: wire.ASSequence, ASNs: asns}}
}

func (h *harness) peerArg(d *datadriven.TestData) (PeerID, error) {
	n, ok := argVal(d, "name")
	if !ok {
		return 0, fmt.Errorf("missing name=")
	}
	id, ok := h.ids[n]
	if !ok {
		return 0, fmt.Errorf("unknown peer %q", n)
	}
	return id, nil
}

func prefixes(in string) ([]wire.NLRI, error) {
	var out []wire.NLRI
	for _, f := range strings.Fields(in) {
		var id uint32
		if i := strings.IndexByte(f, '#'); i >= 0 {
			n, err := strconv.ParseUint(f[i+1:], 10, 32)
			if err != nil {
				return nil, err
			}
			id, f = uint32(n), f[:i]
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		out = append(out, wire.NewNLRI(p, id))
	}
	return out, nil
}

func (h *harness) run(d *datadriven.TestData) (string, error) {
	switch d.Cmd {
	case "engine":
		c := Config{}
		as, _, err := argU32(d, "as")
		if err != nil {
			return "", err
		}
		c.LocalAS = as
		id, _ := argVal(d, "id")
		c.RouterID, _ = netip.ParseAddr(id)
		if n, ok, _ := argU32(d, "max-paths"); ok {
			c.MaxPaths = int(n)
		}
		c.MultipathRelax = d.HasArg("relax")
		c.AlwaysCompareMED = d.HasArg("always-med")
		e, err := New(c)
		if err != nil {
			return "", err
		}
		h.e = e
		return "ok\n", nil
	case "peer":
		name, _ := argVal(d, "name")
		c := PeerConfig{Type: EBGP}
		if v, _ := argVal(d, "type"); v == "ibgp" {
			c.Type = IBGP
		}
		c.PeerAS, _, _ = argU32(d, "as")
		a, _ := argVal(d, "addr")
		c.Address, _ = netip.ParseAddr(a)
		if l, ok := argVal(d, "local"); ok {
			c.LocalAddress, _ = netip.ParseAddr(l)
		}
		if l, ok := argVal(d, "local-ll"); ok {
			c.LocalLinkLocal, _ = netip.ParseAddr(l)
		}
		if n, ok, _ := argU32(d, "allowas-in"); ok {
			c.AllowASIn = int(n)
		}
		switch v, _ := argVal(d, "remove-private"); v {
		case "all":
			c.RemovePrivateAS = RemovePrivateAll
		case "replace":
			c.RemovePrivateAS = ReplacePrivateAS
		}
		c.DefaultOriginate = d.HasArg("default-originate")
		c.NextHopUnchanged = d.HasArg("nh-unchanged")
		c.NoSendCommunity = d.HasArg("no-community")
		c.AddPathSend = d.HasArg("addpath")
		c.ResolveNextHop = d.HasArg("resolve")
		c.ExportName, _ = argVal(d, "export")
		if v, ok := argVal(d, "mrai"); ok {
			dur, err := time.ParseDuration(v)
			if err != nil {
				return "", err
			}
			c.MRAI = dur
		}
		if n, ok, _ := argU32(d, "max-prefix"); ok {
			c.MaxPrefix = n
		}
		id, err := h.e.AddPeer(c)
		if err != nil {
			return "", err
		}
		h.ids[name], h.names[id] = id, name
		return fmt.Sprintf("%s=%d\n", name, id), nil
	case "up":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		rid, _ := argVal(d, "id")
		r, _ := netip.ParseAddr(rid)
		o := &wire.Options{AS4: true}
		fams := []wire.Family{wire.IPv4Unicast}
		if v, ok := argVal(d, "fams"); ok {
			fams = nil
			for _, f := range strings.Split(v, ",") {
				if f == "v4" {
					fams = append(fams, wire.IPv4Unicast)
				} else {
					fams = append(fams, wire.IPv6Unicast)
				}
			}
		}
		if d.HasArg("addpath") {
			o.AddPathSend = map[wire.Family]bool{wire.IPv4Unicast: true, wire.IPv6Unicast: true}
		}
		h.opts[id] = o
		return "", h.e.PeerUp(id, r, *o, fams)
	case "down":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		return "", h.e.PeerDown(id, d.HasArg("graceful"))
	case "eor":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		f := wire.IPv4Unicast
		if v, _ := argVal(d, "fam"); v == "v6" {
			f = wire.IPv6Unicast
		}
		return "", h.e.EndOfRIB(id, f)
	case "drop-stale", "stale":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		if d.Cmd == "drop-stale" {
			f := wire.IPv4Unicast
			if v, _ := argVal(d, "fam"); v == "v6" {
				f = wire.IPv6Unicast
			}
			return "", h.e.DropStale(id, f)
		}
		var out strings.Builder
		for _, f := range h.e.StaleFamilies(id) {
			fmt.Fprintf(&out, "%s: %d stale\n", f, h.e.StalePaths(id, f))
		}
		return out.String(), nil
	case "eor-update":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		return "", h.e.ApplyUpdate(id, wire.EndOfRIB(wire.IPv4Unicast))
	case "defer-initial":
		h.e.DeferInitial(d.HasArg("on"))
		return "", nil
	case "send-initial-now":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		h.e.SendInitialNow(id)
		return "", nil
	case "stale-timeout":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		return "", h.e.StaleTimeout(id)
	case "refresh":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		return "", h.e.RouteRefresh(id, wire.IPv4Unicast, d.HasArg("enhanced"))
	case "update", "withdraw":
		id, err := h.peerArg(d)
		if err != nil {
			return "", err
		}
		nl, err := prefixes(d.Input)
		if err != nil {
			return "", err
		}
		u := &wire.Update{}
		if d.Cmd == "withdraw" {
			var v4, v6 []wire.NLRI
			for _, n := range nl {
				if n.Prefix().Addr().Is4() {
					v4 = append(v4, n)
				} else {
					v6 = append(v6, n)
				}
			}
			u.Withdrawn = v4
			if len(v6) > 0 {
				u.Attrs = &wire.PathAttrs{MPUnreach: &wire.MPUnreach{Family: wire.IPv6Unicast, NLRI: v6}}
			}
		} else {
			a, err := h.attrs(d)
			if err != nil {
				return "", err
			}
			var v6 []wire.NLRI
			for _, n := range nl {
				if n.Prefix().Addr().Is4() {
					u.NLRI = append(u.NLRI, n)
				} else {
					v6 = append(v6, n)
				}
			}
			if len(v6) > 0 {
				nh6, _ := argVal(d, "nh6")
				a.MPReach = &wire.MPReach{Family: wire.IPv6Unicast, NextHop: netip.MustParseAddr(nh6), NLRI: v6}
			}
			u.Attrs = a
		}
		return "", h.e.ApplyUpdate(id, u)
	case "originate":
		p, _ := argVal(d, "prefix")
		return "", h.e.Originate(netip.MustParsePrefix(p), nil)
	case "aggregate":
		p, _ := argVal(d, "prefix")
		return "", h.e.AddAggregate(netip.MustParsePrefix(p), d.HasArg("summary-only"))
	case "no-aggregate":
		p, _ := argVal(d, "prefix")
		return "", h.e.RemoveAggregate(netip.MustParsePrefix(p))
	case "rejects":
		return fmt.Sprintf("%+v\n", h.e.Rejects()), nil
	case "ready":
		return h.format(h.e.Ready(scenarioEpoch.Add(h.now))), nil
	case "tick":
		v, _ := argVal(d, "d")
		dur, err := time.ParseDuration(v)
		if err != nil {
			return "", err
		}
		h.now += dur
		return fmt.Sprintf("t=%s\n", h.now), nil
	case "deadline":
		t, ok := h.e.NextDeadline()
		if !ok {
			return "none\n", nil
		}
		return fmt.Sprintf("t=%s\n", t.Sub(scenarioEpoch)), nil
	case "encodes":
		return fmt.Sprintf("encodes=%d\n", h.e.Encodes()), nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

func (h *harness) attrs(d *datadriven.TestData) (*wire.PathAttrs, error) {
	p, _ := argVal(d, "path")
	a := &wire.PathAttrs{HasOrigin: true, HasASPath: true, ASPath: parseASPath(strings.ReplaceAll(p, ",", " "))}
	if nh, ok := argVal(d, "nh"); ok {
		a.NextHop = netip.MustParseAddr(nh)
	}
	if v, ok, err := argU32(d, "med"); ok {
		a.MED, a.HasMED = v, true
		if err != nil {
			return nil, err
		}
	}
	if v, ok, _ := argU32(d, "lp"); ok {
		a.LocalPref, a.HasLocalPref = v, true
	}
	if v, ok, _ := argU32(d, "lbw"); ok {
		a.ExtCommunities = append(a.ExtCommunities, wire.LinkBandwidth(65000, float32(v)))
	}
	if v, ok := argVal(d, "comm"); ok {
		for _, c := range strings.Split(v, ",") {
			x, y, _ := strings.Cut(c, ":")
			hi, _ := strconv.ParseUint(x, 10, 16)
			lo, _ := strconv.ParseUint(y, 10, 16)
			a.Communities = append(a.Communities, uint32(hi)<<16|uint32(lo))
		}
	}
	return a, nil
}

func (h *harness) peerNames(ids []PeerID) string {
	var s []string
	for _, id := range ids {
		s = append(s, h.names[id])
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

func (h *harness) format(o *Output) string {
	var b strings.Builder
	for _, c := range o.Best {
		switch {
		case c.Withdrawn:
			fmt.Fprintf(&b, "best %s: none\n", c.Prefix)
		case c.Local:
			fmt.Fprintf(&b, "best %s: local path=[%s]\n", c.Prefix, c.Attrs.ASPath)
		default:
			fmt.Fprintf(&b, "best %s: %s path=[%s]\n", c.Prefix, h.names[c.Peer], c.Attrs.ASPath)
		}
	}
	for _, c := range o.ECMP {
		if c.NextHops == nil {
			fmt.Fprintf(&b, "ecmp %s: none\n", c.Prefix)
			continue
		}
		var hs []string
		for _, n := range c.NextHops {
			hs = append(hs, fmt.Sprintf("%s@%s/%d", n.Addr, h.names[n.Peer], n.Weight))
		}
		fmt.Fprintf(&b, "ecmp %s: %s\n", c.Prefix, strings.Join(hs, " "))
	}
	for _, c := range o.Discard {
		fmt.Fprintf(&b, "discard %s install=%v\n", c.Prefix, c.Install)
	}
	for _, ev := range o.Peers {
		fmt.Fprintf(&b, "peer %s: %s %d/%d\n", h.names[ev.Peer], ev.Kind, ev.Prefixes, ev.Limit)
	}
	for _, s := range o.Sends {
		for _, m := range s.Msgs {
			fmt.Fprintf(&b, "send %s: %s\n", h.peerNames(s.Peers), h.describe(s.Peers[0], m))
		}
	}
	for _, err := range o.Errors {
		fmt.Fprintf(&b, "error %v\n", err)
	}
	if b.Len() == 0 {
		return "nothing\n"
	}
	return b.String()
}

func (h *harness) describe(to PeerID, msg []byte) string {
	o := *h.opts[to]
	// Parse as the receiver: what we send with path IDs it receives so.
	o.AddPathRecv, o.AddPathSend = o.AddPathSend, nil
	m, err := wire.Parse(msg, &o)
	if err != nil {
		return "unparsable: " + err.Error()
	}
	switch m := m.(type) {
	case *wire.RouteRefresh:
		return fmt.Sprintf("ROUTE-REFRESH subtype=%d", m.Subtype)
	case *wire.Update:
		if f, ok := m.EndOfRIB(); ok {
			return "End-of-RIB " + f.String()
		}
		var parts []string
		var wd, ann []string
		m.Unreachable(func(_ wire.Family, n wire.NLRI) { wd = append(wd, n.String()) })
		m.Reachable(func(_ wire.Family, n wire.NLRI) { ann = append(ann, n.String()) })
		if len(wd) > 0 {
			parts = append(parts, "withdraw "+strings.Join(wd, " "))
		}
		if len(ann) > 0 {
			a := m.Attrs
			s := fmt.Sprintf("announce %s path=[%s]", strings.Join(ann, " "), a.ASPath)
			if a.NextHop.IsValid() {
				s += " nh=" + a.NextHop.String()
			}
			if a.MPReach != nil {
				s += " nh=" + a.MPReach.NextHop.String()
				if a.MPReach.LinkLocalNextHop.IsValid() {
					s += "," + a.MPReach.LinkLocalNextHop.String()
				}
			}
			if a.HasLocalPref {
				s += fmt.Sprintf(" lp=%d", a.LocalPref)
			}
			if a.HasMED {
				s += fmt.Sprintf(" med=%d", a.MED)
			}
			for _, c := range a.Communities {
				s += " comm=" + wire.FormatCommunity(c)
			}
			for _, c := range a.ExtCommunities {
				s += " ext=" + c.String()
			}
			if a.AtomicAggregate {
				s += " atomic-aggregate"
			}
			parts = append(parts, s)
		}
		return "UPDATE " + strings.Join(parts, "; ")
	}
	return fmt.Sprintf("%T", m)
}
