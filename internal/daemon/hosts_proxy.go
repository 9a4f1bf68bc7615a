package daemon

import (
	"net/netip"
	"slices"
)

// IPv6 has no proxy ARP by route: a leaf answers neighbor solicitations
// for another address only with a proxy entry per address and port (`ip
// -6 neigh add proxy ADDR dev PORT`). In a shared /64, a server asks for
// its neighbors in the subnet on-link, so every port whose allowed
// prefixes hold an IPv6 host that lives elsewhere (on another leaf, or on
// another port of this one) gets a proxy entry for it; the port the host
// is on does not, or the leaf would answer for the host on its own link.

// proxyState is the wanted and installed proxy entries of one address.
type proxyState struct {
	remote bool   // another leaf advertises it
	local  string // the port it is held on here, "" if none
	on     []string
}

// hostProxyUpdate recomputes the proxy entries of ip after its remote or
// local state changed, and applies the difference.
func (d *Daemon) hostProxyUpdate(ip netip.Addr, change func(*proxyState)) {
	h := d.hosts
	if !ip.Is6() || ip.Is4In6() {
		return
	}
	if h.proxy == nil {
		h.proxy = map[netip.Addr]*proxyState{}
	}
	st := h.proxy[ip]
	if st == nil {
		st = &proxyState{}
		h.proxy[ip] = st
	}
	change(st)
	var want []string
	if st.remote || st.local != "" {
		for _, ic := range h.cfg.Interfaces {
			if ic.Name == st.local || !slices.ContainsFunc(ic.Allowed, func(p netip.Prefix) bool { return p.Contains(ip) }) {
				continue
			}
			want = append(want, ic.Name)
		}
	}
	for _, port := range st.on {
		if !slices.Contains(want, port) {
			if err := h.net.SetProxy(ip, port, false); err != nil {
				h.stats.RouteErrors++
				h.log.Warn("removing an IPv6 proxy entry", "ip", ip, "interface", port, "err", err)
			}
		}
	}
	var on []string
	for _, port := range want {
		if slices.Contains(st.on, port) {
			on = append(on, port)
			continue
		}
		if err := h.net.SetProxy(ip, port, true); err != nil {
			h.stats.RouteErrors++
			h.log.Warn("adding an IPv6 proxy entry", "ip", ip, "interface", port, "err", err)
			continue
		}
		on = append(on, port)
	}
	st.on = on
	if !st.remote && st.local == "" && len(st.on) == 0 {
		delete(h.proxy, ip)
	}
}
