package rib

import (
	"fmt"
	"net/netip"

	"github.com/closnet/clos/internal/bgp/wire"
)

// aggregate is an aggregate-address: active while at least one more
// specific prefix has a best path; then it is originated locally and a
// discard route for it is handed to the FIB.
type aggregate struct {
	summaryOnly bool
	count       int
	active      bool
}

// aggregatePathID tells an aggregate's local path from an Originate of the
// same prefix.
const aggregatePathID = 1

// AddAggregate configures an aggregate (seed 002 7.2.5, 7.4.5). With
// summaryOnly the more specifics it covers are not advertised.
func (e *Engine) AddAggregate(prefix netip.Prefix, summaryOnly bool) error {
	f, err := prefixFamily(prefix)
	if err != nil {
		return err
	}
	prefix = prefix.Masked()
	if _, ok := e.aggs[f][prefix]; ok {
		return fmt.Errorf("rib: aggregate %v already configured", prefix)
	}
	ag := &aggregate{summaryOnly: summaryOnly}
	e.aggs[f][prefix] = ag
	t := &e.tables[f]
	for i := range t.ents {
		en := &t.ents[i]
		if en.live && en.best.attr != 0 && covers(prefix, en.pfx) {
			ag.count++
		}
	}
	if ag.count > 0 {
		e.activate(f, prefix, ag, &e.pending)
	}
	return nil
}

// RemoveAggregate removes an aggregate, its route and its discard route.
func (e *Engine) RemoveAggregate(prefix netip.Prefix) error {
	f, err := prefixFamily(prefix)
	if err != nil {
		return err
	}
	prefix = prefix.Masked()
	ag, ok := e.aggs[f][prefix]
	if !ok {
		return fmt.Errorf("rib: no aggregate %v", prefix)
	}
	if ag.active {
		e.deactivate(f, prefix, ag, &e.pending)
	}
	delete(e.aggs[f], prefix)
	if ag.summaryOnly {
		e.touchCovered(f, prefix)
	}
	return nil
}

func covers(agg, p netip.Prefix) bool {
	return p.Bits() > agg.Bits() && agg.Contains(p.Addr())
}

func (e *Engine) activate(f int, prefix netip.Prefix, ag *aggregate, o *Output) {
	ag.active = true
	a := &wire.PathAttrs{HasOrigin: true, Origin: wire.OriginIGP, HasASPath: true, AtomicAggregate: true,
		HasAggregator: true, Aggregator: wire.Aggregator{AS: e.cfg.LocalAS, Addr: e.cfg.RouterID}}
	e.upsert(f, prefix, localPeer, aggregatePathID, e.intern(a))
	o.Discard = append(o.Discard, DiscardChange{Prefix: prefix, Install: true})
	if ag.summaryOnly {
		e.touchCovered(f, prefix)
	}
}

func (e *Engine) deactivate(f int, prefix netip.Prefix, ag *aggregate, o *Output) {
	ag.active = false
	e.withdraw(f, prefix, localPeer, aggregatePathID)
	o.Discard = append(o.Discard, DiscardChange{Prefix: prefix, Install: false})
	if ag.summaryOnly {
		e.touchCovered(f, prefix)
	}
}

// touchCovered re-decides the advertisement of the prefixes under agg,
// whose suppression just changed.
func (e *Engine) touchCovered(f int, agg netip.Prefix) {
	t := &e.tables[f]
	for i := range t.ents {
		en := &t.ents[i]
		if en.live && covers(agg, en.pfx) {
			en.force = true
			t.markDirty(uint32(i))
		}
	}
}

// aggregateNotice counts contributors when a prefix gains or loses its best
// path, and switches aggregates on and off.
func (e *Engine) aggregateNotice(f int, had, has bool, pfx netip.Prefix) {
	if had == has || len(e.aggs[f]) == 0 {
		return
	}
	for ap, ag := range e.aggs[f] {
		if !covers(ap, pfx) {
			continue
		}
		if has {
			ag.count++
			if ag.count == 1 && !ag.active {
				e.activate(f, ap, ag, &e.out)
			}
		} else {
			ag.count--
			if ag.count == 0 && ag.active {
				e.deactivate(f, ap, ag, &e.out)
			}
		}
	}
}

// suppressed reports whether a summary-only aggregate hides pfx.
func (e *Engine) suppressed(f int, pfx netip.Prefix) bool {
	for ap, ag := range e.aggs[f] {
		if ag.summaryOnly && ag.active && covers(ap, pfx) {
			return true
		}
	}
	return false
}
