package rib

import (
	"errors"
	"net/netip"
	"slices"

	"github.com/closnet/clos/internal/bgp/wire"
)

// SetPolicy replaces a peer's import and export policies, as a config
// reload does. exportName names the new export for update grouping: peers
// share a group only when their names are equal, so a changed policy must
// come with a name no group has yet.
//
// An established peer moves to the group of its new export and is sent
// that group's Adj-RIB-Out, plus a withdrawal for every path it was sent
// under the old export that the new one no longer gives: a soft refresh
// out, without a session reset. With SoftReconfigInbound the new import
// policy is run at once over the paths the peer has sent (softin.go);
// without it, it applies to paths received from now on, and to re-run it
// over what the peer has sent, ask the peer for a ROUTE-REFRESH (a soft
// refresh in).
func (e *Engine) SetPolicy(id PeerID, imp, exp Policy, exportName string) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	p.cfg.Import, p.cfg.Export, p.cfg.ExportName = imp, exp, exportName
	if p.up && p.in != nil {
		e.softInRerun(id, p)
	}
	if !p.up || p.group < 0 {
		return nil
	}
	type sent struct {
		pfx netip.Prefix
		id  uint32
	}
	var had [nFam][]sent
	for f, adv := range e.groups[p.group].adv {
		for k, ops := range adv {
			for _, o := range ops {
				if o.skip != id {
					had[f] = append(had[f], sent{k.prefix(f), o.id})
				}
			}
		}
	}
	// A peer still waiting for its initial update (DeferInitial) keeps
	// waiting for it, End-of-RIB included.
	initial := slices.ContainsFunc(e.groups[p.group].dumps, func(d dumpReq) bool { return d.peer == id && d.eor })
	e.leaveGroup(id)
	e.joinGroup(id)
	g := e.groups[p.group]
	if len(g.dumps) == 0 || g.dumps[len(g.dumps)-1].peer != id {
		return errors.New("rib: SetPolicy: the peer's dump was not queued")
	}
	// The session is not new: no second End-of-RIB.
	g.dumps[len(g.dumps)-1].eor = initial
	for f := range had {
		slices.SortFunc(had[f], func(a, b sent) int {
			if c := a.pfx.Addr().Compare(b.pfx.Addr()); c != 0 {
				return c
			}
			return a.pfx.Bits() - b.pfx.Bits()
		})
		for _, s := range had[f] {
			now := g.adv[f][keyOf(s.pfx)]
			if slices.ContainsFunc(now, func(o outPath) bool { return o.id == s.id && o.skip != id }) {
				continue
			}
			g.queue(bundleKey{kind: bundleWithdraw, fam: uint8(f), only: id}, wire.NewNLRI(s.pfx, s.id))
		}
	}
	return nil
}
