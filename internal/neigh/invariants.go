package neigh

import (
	"fmt"
	"net/netip"
)

// checkInvariants reports the first broken internal rule. Tests and the
// fuzz target call it after every step; it is cheap enough for the daemon
// to call in debug builds.
func (e *Engine) checkInvariants() error {
	count := map[string]int{}
	for ip, h := range e.hosts {
		if h.ip != ip {
			return fmt.Errorf("host key %v holds %v", ip, h.ip)
		}
		ic := e.ifs[h.ifname]
		if ic == nil {
			return fmt.Errorf("host %v on unconfigured interface %q", ip, h.ifname)
		}
		if !inAny(ic.Allowed, ip) || !ip.IsGlobalUnicast() {
			return fmt.Errorf("host %v outside the allowed prefixes of %s", ip, h.ifname)
		}
		if !staticAllows(ic, ip, h.mac) {
			return fmt.Errorf("host %v/%v not in the static list of %s", ip, h.mac, h.ifname)
		}
		if !h.probing && (h.cand != nil || h.attempts != 0) {
			return fmt.Errorf("host %v has probe state while not probing", ip)
		}
		if h.probing && (h.attempts < 1 || h.attempts > e.cfg.ProbeRetries) {
			return fmt.Errorf("host %v probe attempts %d outside 1..%d", ip, h.attempts, e.cfg.ProbeRetries)
		}
		if h.cand != nil && h.cand.ifname == h.ifname {
			return fmt.Errorf("host %v contender on its own port", ip)
		}
		count[h.ifname]++
	}
	for name, n := range count {
		if e.perIf[name] != n {
			return fmt.Errorf("interface %s counts %d hosts, holds %d", name, e.perIf[name], n)
		}
		if n > e.ifs[name].MaxHosts {
			return fmt.Errorf("interface %s holds %d hosts, max %d", name, n, e.ifs[name].MaxHosts)
		}
	}
	for name, n := range e.perIf {
		if count[name] != n {
			return fmt.Errorf("interface %s counts %d hosts, holds %d", name, n, count[name])
		}
	}
	for ip, m := range e.mob {
		if !m.frozen && len(m.moves) > e.cfg.MoveLimit {
			return fmt.Errorf("address %v has %d moves but is not frozen", ip, len(m.moves))
		}
	}
	for ip := range e.hosts {
		if err := e.checkDue(ip); err != nil {
			return err
		}
	}
	for ip := range e.mob {
		if err := e.checkDue(ip); err != nil {
			return err
		}
	}
	for ip := range e.due {
		if _, ok := e.deadlineOf(ip); !ok {
			return fmt.Errorf("address %v has a timer but nothing to time", ip)
		}
	}
	if len(e.touched) != 0 {
		return fmt.Errorf("%d touched addresses left after a step", len(e.touched))
	}
	return nil
}

func (e *Engine) checkDue(ip netip.Addr) error {
	want, ok := e.deadlineOf(ip)
	got, had := e.due[ip]
	if ok != had || !want.Equal(got) {
		return fmt.Errorf("address %v timer %v (set %v), state says %v (set %v)", ip, got, had, want, ok)
	}
	return nil
}
