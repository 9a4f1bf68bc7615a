package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

// wellKnown maps the names the config accepts to their values; the names
// are those FRR prints and wire.FormatCommunity writes.
var wellKnown = map[string]uint32{
	"no-export":           wire.CommunityNoExport,
	"no-advertise":        wire.CommunityNoAdvertise,
	"no-export-subconfed": wire.CommunityNoExportSubconfed,
	"no-peer":             wire.CommunityNoPeer,
	"blackhole":           wire.CommunityBlackhole,
	"graceful-shutdown":   wire.CommunityGracefulShutdown,
	"accept-own":          wire.CommunityAcceptOwn,
	"llgr-stale":          wire.CommunityLLGRStale,
	"no-llgr":             wire.CommunityNoLLGR,
}

// ParseCommunity reads "ASN:VALUE" (both 0..65535) or a well-known name.
func ParseCommunity(s string) (uint32, error) {
	if v, ok := wellKnown[s]; ok {
		return v, nil
	}
	a, b, ok := strings.Cut(s, ":")
	if ok {
		hi, e1 := strconv.ParseUint(a, 10, 16)
		lo, e2 := strconv.ParseUint(b, 10, 16)
		if e1 == nil && e2 == nil {
			return uint32(hi)<<16 | uint32(lo), nil
		}
	}
	return 0, fmt.Errorf("community %q; want ASN:VALUE with both 0..65535, or a well-known name (no-export, no-advertise, no-export-subconfed, no-peer, blackhole, graceful-shutdown, accept-own, llgr-stale, no-llgr)", s)
}

type communityEntry struct {
	permit bool
	value  uint32
}

// CommunityList is a compiled standard community list.
type CommunityList struct {
	name    string
	entries []communityEntry
}

// Name is the list's name.
func (l *CommunityList) Name() string { return l.name }

func compileCommunityList(cl config.CommunityList) (*CommunityList, error) {
	if len(cl.Entries) == 0 {
		return nil, fmt.Errorf("community-list %q has no entries; add at least one permit or deny line", cl.Name)
	}
	l := &CommunityList{name: cl.Name}
	for i, e := range cl.Entries {
		permit, err := action(e.Action)
		if err != nil {
			return nil, fmt.Errorf("community-list %q entry %d: %w", cl.Name, i, err)
		}
		v, err := ParseCommunity(e.Community)
		if err != nil {
			return nil, fmt.Errorf("community-list %q entry %d: %w", cl.Name, i, err)
		}
		l.entries = append(l.entries, communityEntry{permit: permit, value: v})
	}
	return l, nil
}

// Match reports the decision of the first entry whose community the route
// carries; a route carrying none of them is denied.
func (l *CommunityList) Match(comms []uint32) (permit, matched bool) {
	for _, e := range l.entries {
		for _, c := range comms {
			if c == e.value {
				return e.permit, true
			}
		}
	}
	return false, false
}
