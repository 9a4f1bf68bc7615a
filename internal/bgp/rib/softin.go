package rib

import (
	"errors"
	"fmt"
	"slices"

	"github.com/closnet/clos/internal/bgp/wire"
)

// ErrNoSoftIn is returned for the pre-policy routes of a peer configured
// without SoftReconfigInbound: they were never kept.
var ErrNoSoftIn = errors.New("rib: soft-reconfiguration inbound is not enabled for this peer")

// adjIn is a peer's pre-policy Adj-RIB-In (soft-reconfiguration inbound):
// every path of the current session with its attributes as received. The
// attributes are interned in the engine's table, so a path costs one map
// entry of 28 bytes without pointers, and its attributes are shared with
// the Loc-RIB whenever the import policy leaves them unchanged.
type adjIn struct {
	paths [nFam]map[wire.NLRI]uint32
}

func inKey(n wire.NLRI) wire.NLRI { return wire.NewNLRI(n.Prefix(), n.PathID) }

// softInKeep stores path n with the interned set ai, taking a new
// reference on it.
func (e *Engine) softInKeep(p *peer, s int, n wire.NLRI, ai uint32) {
	m := p.in.paths[s]
	if m == nil {
		m = map[wire.NLRI]uint32{}
		p.in.paths[s] = m
	}
	k := inKey(n)
	if old, ok := m[k]; ok {
		if old == ai {
			return
		}
		e.unref(old)
	}
	e.ref(ai)
	m[k] = ai
}

// softInForget drops the stored copy of a withdrawn path.
func (e *Engine) softInForget(p *peer, s int, n wire.NLRI) {
	if p.in == nil {
		return
	}
	k := inKey(n)
	if ai, ok := p.in.paths[s][k]; ok {
		e.unref(ai)
		delete(p.in.paths[s], k)
	}
}

// softInClear forgets every stored path: the session is gone, and the
// next one sends its routes again.
func (e *Engine) softInClear(p *peer) {
	if p.in == nil {
		return
	}
	for s, m := range p.in.paths {
		for _, ai := range m {
			e.unref(ai)
		}
		p.in.paths[s] = nil
	}
}

// SoftIn reports whether the peer keeps its pre-policy paths.
func (e *Engine) SoftIn(id PeerID) bool {
	p, err := e.peer(id)
	return err == nil && p.in != nil
}

// SoftReconfigIn runs the peer's import policy again over the paths it has
// sent in this session, as a ROUTE-REFRESH would, without asking the peer:
// paths the policy now refuses leave the Loc-RIB, paths it now accepts (or
// changes) enter it. SetPolicy calls it itself. ErrNoSoftIn when the peer
// has no stored paths to run over.
func (e *Engine) SoftReconfigIn(id PeerID) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	if p.in == nil {
		return fmt.Errorf("%w: %v", ErrNoSoftIn, p.cfg.Address)
	}
	if !p.up {
		return nil
	}
	e.softInRerun(id, p)
	return nil
}

func (e *Engine) softInRerun(id PeerID, p *peer) {
	info := PathInfo{Peer: id, Type: p.cfg.Type, PeerAS: p.cfg.PeerAS, Address: p.cfg.Address}
	fast := isAcceptAll(p.cfg.Import)
	// The loop checks and the LOCAL_PREF rule depend on the attributes
	// only: decide them once per stored set.
	type checked struct {
		attrs *wire.PathAttrs
		ok    bool
		base  uint32
	}
	done := map[uint32]checked{}
	for s, m := range p.in.paths {
		keys := make([]wire.NLRI, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b wire.NLRI) int {
			if c := comparePrefix(a.Prefix(), b.Prefix()); c != 0 {
				return c
			}
			return int(a.PathID) - int(b.PathID)
		})
		for _, k := range keys {
			ai := m[k]
			c, seen := done[ai]
			if !seen {
				c.attrs = e.attrs.sets[ai].a
				c.ok = e.importCheck(p, c.attrs)
				if c.ok && p.cfg.Type == EBGP && c.attrs.HasLocalPref {
					c.attrs = c.attrs.Clone()
					c.attrs.HasLocalPref, c.attrs.LocalPref = false, 0
				}
				if c.ok && fast {
					c.base = e.intern(c.attrs)
				}
				done[ai] = c
			}
			e.importPath(p, id, info, s, families[s], k, c.attrs, c.ok, c.base)
		}
	}
	for _, c := range done {
		e.unref(c.base)
	}
}

// ReceivedRoutes calls fn for every path the peer has sent in this
// session, in prefix order, with its attributes as received (before the
// import policy), until fn returns false. ErrNoSoftIn when the peer is
// configured without SoftReconfigInbound.
func (e *Engine) ReceivedRoutes(id PeerID, f wire.Family, fn func(Route) bool) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	if p.in == nil {
		return fmt.Errorf("%w: %v", ErrNoSoftIn, p.cfg.Address)
	}
	s, ok := famSlot(f)
	if !ok {
		return nil
	}
	m := p.in.paths[s]
	keys := make([]wire.NLRI, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b wire.NLRI) int {
		if c := comparePrefix(a.Prefix(), b.Prefix()); c != 0 {
			return c
		}
		return int(a.PathID) - int(b.PathID)
	})
	for _, k := range keys {
		if !fn(Route{Prefix: k.Prefix(), Peer: id, PathID: k.PathID, Attrs: e.attrs.sets[m[k]].a}) {
			return nil
		}
	}
	return nil
}

// softInLen is the number of stored pre-policy paths of a peer, for tests.
func (e *Engine) softInLen(id PeerID) int {
	p, err := e.peer(id)
	if err != nil || p.in == nil {
		return 0
	}
	return len(p.in.paths[famV4]) + len(p.in.paths[famV6])
}
