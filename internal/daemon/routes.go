package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/rib"
	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/fib"
)

// flush asks the RIB what follows from the events handled since the last
// call and carries it out: messages to peers, forwarding changes to the FIB.
func (d *Daemon) flush() {
	for range 16 {
		out := d.rib.Ready(d.now())
		if out.Empty() {
			// An UPDATE that changed nothing to forward closes its
			// latency window without an observation.
			d.stats.updateAt = time.Time{}
			return
		}
		d.apply(out)
		d.runLater()
	}
}

func (d *Daemon) apply(out *rib.Output) {
	d.stats.bestChanges += uint64(len(out.Best))
	for _, b := range out.Best {
		m := d.best[b.Family]
		if m == nil {
			m = map[bestKey]bestRoute{}
			d.best[b.Family] = m
		}
		k := bestKeyOf(b.Prefix)
		if old, ok := m[k]; ok {
			d.bestBy.drop(old.peer)
		}
		if b.Withdrawn {
			delete(m, k)
			continue
		}
		r := bestRoute{attrs: b.Attrs, local: b.Local}
		if s := d.byRIB[b.Peer]; s != nil && !b.Local && s.p.remote.Addr().IsValid() {
			r.peer = d.bestBy.add(s.p.remote.Addr())
		}
		m[k] = r
	}
	d.hostsRemote(out.Remote)
	for _, s := range out.Sends {
		for _, id := range s.Peers {
			ss := d.byRIB[id]
			if ss == nil || ss.conn == nil || ss.conn.closed {
				continue
			}
			ss.p.updatesOut += uint64(len(s.Msgs))
			ss.ribSent += uint64(len(s.Msgs))
			for _, msg := range s.Msgs {
				d.send(ss, msg)
			}
		}
	}
	for _, e := range out.Peers {
		s := d.byRIB[e.Peer]
		if s == nil {
			continue
		}
		switch e.Kind {
		case rib.MaxPrefixWarning:
			s.p.log.Warn("prefix count near the limit", "prefixes", e.Prefixes, "limit", e.Limit)
		case rib.MaxPrefixExceeded:
			s.p.log.Warn("prefix limit exceeded: closing the session", "prefixes", e.Prefixes, "limit", e.Limit)
			d.later = append(d.later, func() {
				d.step(s, fsm.AutomaticStop{Subcode: wire.SubMaxPrefixes}, d.now())
			})
		}
	}
	for _, err := range out.Errors {
		d.log.Error("RIB could not encode an advertisement", "err", err)
	}
	if d.fib != nil && (len(out.ECMP) > 0 || len(out.Discard) > 0) {
		if ecmp, discard := d.grHold(out.ECMP, out.Discard); len(ecmp) > 0 || len(discard) > 0 {
			d.program(ecmp, discard)
		}
	}
}

// program hands the RIB's forwarding changes to the FIB as one batch.
func (d *Daemon) program(ecmp []rib.ECMPChange, discard []rib.DiscardChange) {
	type via struct{ nh, local netip.Addr }
	cache := map[via]fib.Member{}
	err := d.fib.Update(func(ds *fib.Desired) error {
		for _, c := range ecmp {
			if len(c.NextHops) == 0 {
				ds.Delete(c.Prefix)
				continue
			}
			var ms []fib.Member
			for _, nh := range c.NextHops {
				k := via{nh: nh.Addr}
				if s := d.byRIB[nh.Peer]; s != nil && nh.Addr.Is6() && nh.Addr.IsLinkLocalUnicast() {
					k.local = s.local
				}
				m, ok := cache[k]
				if !ok {
					var err error
					m, err = d.o.Resolve(k.nh, k.local)
					if err != nil {
						d.stats.fibErrors++
						d.log.Warn("next hop not reachable on a connected subnet: not installed", "prefix", c.Prefix, "next-hop", nh.Addr, "err", err)
						continue
					}
					cache[k] = m
				}
				m.Weight = uint16(min(max(nh.Weight, 1), 256))
				ms = append(ms, m)
			}
			if len(ms) == 0 {
				ds.Delete(c.Prefix)
				continue
			}
			if err := ds.Set(c.Prefix, fib.ECMP(ms...)); err != nil {
				d.stats.fibErrors++
				d.log.Warn("route not installable", "prefix", c.Prefix, "err", err)
				ds.Delete(c.Prefix)
			}
		}
		for _, c := range discard {
			if !d.discard[c.Prefix] {
				continue
			}
			if c.Install {
				if err := ds.Set(c.Prefix, fib.Blackhole()); err != nil {
					d.log.Warn("discard route not installable", "prefix", c.Prefix, "err", err)
				}
			} else {
				ds.Delete(c.Prefix)
			}
		}
		return nil
	})
	if err != nil {
		d.stats.fibErrors++
		d.log.Warn("fib update", "err", err)
	}
	d.fibHandoff()
}

func asPathString(p wire.ASPath) string {
	var parts []string
	for _, seg := range p {
		var ns []string
		for _, as := range seg.ASNs {
			ns = append(ns, strconv.FormatUint(uint64(as), 10))
		}
		if seg.Type == wire.ASSet {
			parts = append(parts, "{"+strings.Join(ns, ",")+"}")
		} else {
			parts = append(parts, ns...)
		}
	}
	return strings.Join(parts, " ")
}

// resolveConnected finds the interface whose connected subnet holds nh.
// An IPv6 link-local nh is on every link's fe80::/64, so it is taken to be
// on the interface holding local (our address on the session it came from).
func resolveConnected(nh, local netip.Addr) (fib.Member, error) {
	nh = nh.Unmap()
	ifs, err := net.Interfaces()
	if err != nil {
		return fib.Member{}, err
	}
	linkLocal := nh.Is6() && nh.IsLinkLocalUnicast()
	if linkLocal && local.Zone() != "" {
		for _, ifc := range ifs {
			if ifc.Name == local.Zone() {
				return fib.Member{Gateway: nh.WithZone(""), Ifindex: ifc.Index, Ifname: ifc.Name}, nil
			}
		}
	}
	local = local.Unmap().WithZone("")
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if linkLocal {
				if local.IsValid() && ip == local {
					return fib.Member{Gateway: nh.WithZone(""), Ifindex: ifc.Index, Ifname: ifc.Name}, nil
				}
				continue
			}
			ones, _ := ipn.Mask.Size()
			if netip.PrefixFrom(ip, ones).Masked().Contains(nh) {
				if ip == nh {
					return fib.Member{}, fmt.Errorf("%s is an address of this host (%s)", nh, ifc.Name)
				}
				return fib.Member{Gateway: nh, Ifindex: ifc.Index, Ifname: ifc.Name}, nil
			}
		}
	}
	if linkLocal {
		return fib.Member{}, fmt.Errorf("link-local next hop, and no interface holds the session's address %v", local)
	}
	return fib.Member{}, errors.New("no connected subnet holds it")
}
