package rib

import (
	"net/netip"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// BestChange reports a new best path for a prefix, or its loss (Peer 0 and
// Attrs nil when Withdrawn). Local marks a locally originated best path.
type BestChange struct {
	Family    wire.Family
	Prefix    netip.Prefix
	Withdrawn bool
	Peer      PeerID
	Local     bool
	PathID    uint32
	// Attrs is the interned attribute set: shared, read only.
	Attrs *wire.PathAttrs
}

// ECMPChange is the forwarding state of a prefix for the FIB: the ECMP set
// of the best path's next hops. NextHops is nil when the prefix has no BGP
// route to install (no path left, or the best path is local). Group
// identifies the set: prefixes with equal Group have equal NextHops, so the
// FIB can share one kernel nexthop group among them. NextHops is shared and
// read only.
type ECMPChange struct {
	Family   wire.Family
	Prefix   netip.Prefix
	Group    uint32
	NextHops []NextHop
}

// DiscardChange installs (or removes) a blackhole route for an active
// aggregate, so traffic to a missing more-specific is dropped rather than
// looping on a default route during convergence (seed 002 7.4.5).
type DiscardChange struct {
	Prefix  netip.Prefix
	Install bool
}

// Send is encoded messages for some peers: every peer listed gets exactly
// these bytes, in order.
type Send struct {
	Group int
	Peers []PeerID
	Msgs  [][]byte
}

// Output is what a Ready call hands the daemon. Its slices are reused by
// the next Ready call; copy what must outlive it.
type Output struct {
	Best    []BestChange
	ECMP    []ECMPChange
	Discard []DiscardChange
	Sends   []Send
	Peers   []PeerEvent
	// Remote reports host prefixes' best peer-learned paths, for the
	// prefixes WatchRemoteHosts selects.
	Remote []RemoteHost
	// Errors are encoding failures (attributes too large for a session):
	// the prefixes named are not advertised to that group.
	Errors []error
}

func (o *Output) reset() {
	o.Best = reuse(o.Best)
	o.ECMP = reuse(o.ECMP)
	o.Discard = reuse(o.Discard)
	clear(o.Sends)
	o.Sends = reuse(o.Sends)
	o.Peers = reuse(o.Peers)
	o.Remote = reuse(o.Remote)
	o.Errors = reuse(o.Errors)
}

// Empty reports whether there is nothing to do.
func (o *Output) Empty() bool {
	return len(o.Best)+len(o.ECMP)+len(o.Discard)+len(o.Sends)+len(o.Peers)+len(o.Errors)+len(o.Remote) == 0
}

// Ready decides every prefix changed since the last call and returns what
// follows from it. now only matters for MRAI; see NextDeadline. The result
// is valid until the next call.
func (e *Engine) Ready(now time.Time) *Output {
	o := &e.out
	o.reset()
	o.Peers = append(o.Peers, e.pending.Peers...)
	e.pending.Peers = e.pending.Peers[:0]
	o.Discard = append(o.Discard, e.pending.Discard...)
	e.pending.Discard = e.pending.Discard[:0]
	for f := range e.tables {
		t := &e.tables[f]
		// The list grows while it is walked: activating an aggregate
		// adds its prefix and may touch entries decided already.
		for k := 0; k < len(t.dirty); k++ {
			i := t.dirty[k]
			if !t.ents[i].dirty {
				continue
			}
			t.ents[i].dirty = false
			e.decide(f, i)
		}
		for _, i := range t.dirty {
			en := &t.ents[i]
			if en.live && !en.dirty && len(en.paths) == 0 && en.best.attr == 0 && en.group == 0 {
				t.release(i)
			}
		}
		t.dirty = reuse(t.dirty)
	}
	if len(e.out.ECMP) > 0 && (len(e.tables[famV4].recursive) > 0 || len(e.tables[famV6].recursive) > 0) {
		e.reresolve()
	}
	e.flushGroups(now)
	return o
}

// decide selects the best path and ECMP set of one entry and reports the
// differences.
func (e *Engine) decide(f int, i uint32) {
	t := &e.tables[f]
	en := &t.ents[i]
	fam := families[f]
	b, idx := e.selectSet(e.idxBuf[:0], en.paths)
	var nb path
	var grp uint32
	en.recursive = b >= 0 && e.needsResolve(en.paths, idx)
	if en.recursive {
		t.recursive[i] = struct{}{}
	} else {
		delete(t.recursive, i)
	}
	switch {
	case b < 0:
	case en.recursive:
		grp = e.resolveGroup(f, en, idx)
	default:
		grp = e.groupFor(f, en.paths, idx)
	}
	if b >= 0 {
		nb = en.paths[b]
		nb.peer &^= staleBit
	}
	ob := en.best
	bestChanged := nb != ob
	if bestChanged {
		e.ref(nb.attr)
		en.best = nb
		c := BestChange{Family: fam, Prefix: en.pfx, Withdrawn: b < 0}
		if b >= 0 {
			c.Peer, c.PathID, c.Local = nb.peerID(), nb.id, nb.peerID() == localPeer
			c.Attrs = e.attrs.sets[nb.attr].a
			if c.Local {
				c.Peer = 0
			}
		}
		e.out.Best = append(e.out.Best, c)
	}
	if grp != en.group {
		c := ECMPChange{Family: fam, Prefix: en.pfx, Group: grp}
		if grp != 0 {
			c.NextHops = e.ecmp.groups[grp].hops
		}
		e.putGroup(en.group)
		en.group = grp
		e.out.ECMP = append(e.out.ECMP, c)
	} else {
		e.putGroup(grp)
	}
	if bestChanged {
		// Before advertising, so a summary-only aggregate this prefix
		// activates already hides it. It may grow t.ents: re-fetch en.
		e.aggregateNotice(f, ob.attr != 0, b >= 0, en.pfx)
		en = &t.ents[i]
	}
	force := bestChanged || en.force
	en.force = false
	e.advertisePrefix(f, i, idx, force)
	if bestChanged {
		e.unref(ob.attr)
	}
	e.mobilityNotice(f, &t.ents[i])
	e.idxBuf = idx[:0]
}
