package rib

import "github.com/closnet/clos/internal/bgp/wire"

// GroupInfo describes one update group for `clos show bgp update-groups`.
type GroupInfo struct {
	// Index identifies the group while it lives.
	Index   int
	Type    PeerType
	LocalAS uint32
	// Export is the export policy's name (PeerConfig.ExportName).
	Export string
	// Members in the order they joined.
	Members []PeerID
	// Prefixes counts the Adj-RIB-Out by family.
	Prefixes map[wire.Family]int
	// NextHopSelf, RemovePrivateAS, DefaultOriginate and MRAI are the
	// settings that split groups beside the export.
	NextHopSelf      bool
	RemovePrivateAS  RemovePrivateAS
	DefaultOriginate bool
	AddPath          bool
	// Pending counts queued bundles and dumps not yet sent.
	Pending int
}

// UpdateGroups lists the live update groups in index order.
func (e *Engine) UpdateGroups() []GroupInfo {
	var out []GroupInfo
	for i, g := range e.groups {
		if g == nil {
			continue
		}
		gi := GroupInfo{
			Index: i, Type: g.key.typ, LocalAS: g.key.localAS, Export: g.key.export,
			Members:     append([]PeerID(nil), g.members...),
			Prefixes:    map[wire.Family]int{},
			NextHopSelf: g.key.nhSelf, RemovePrivateAS: g.key.removePriv, DefaultOriginate: g.key.defOrig,
			AddPath: g.key.addPath[famV4] || g.key.addPath[famV6],
			Pending: len(g.bundles) + len(g.dumps),
		}
		for f, fam := range families {
			if g.key.fams[f] {
				gi.Prefixes[fam] = len(g.adv[f])
			}
		}
		out = append(out, gi)
	}
	return out
}
