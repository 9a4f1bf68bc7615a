package neigh

import (
	"net/netip"
	"slices"
	"time"
)

// HostInfo is one learned host as `clos show hosts` prints it.
type HostInfo struct {
	IP            netip.Addr   `json:"ip"`
	Prefix        netip.Prefix `json:"prefix"`
	Interface     string       `json:"interface"`
	MAC           MAC          `json:"mac"`
	State         string       `json:"state"` // active, probing, permanent
	KernelState   NUDState     `json:"kernel_state"`
	Seq           uint32       `json:"seq"`
	Sticky        bool         `json:"sticky"`
	AgeSeconds    float64      `json:"age_seconds"`
	LastConfirmed time.Time    `json:"last_confirmed"`
	ProbeAttempts int          `json:"probe_attempts,omitempty"`
	Contender     string       `json:"contender,omitempty"` // other port claiming it
	Frozen        bool         `json:"frozen"`
	FrozenUntil   time.Time    `json:"frozen_until,omitzero"`
	RecentMoves   int          `json:"recent_moves"`
	RemoteSeq     *uint32      `json:"remote_seq,omitempty"`
}

// FrozenInfo is a frozen address, held here or not.
type FrozenInfo struct {
	IP    netip.Addr `json:"ip"`
	Local bool       `json:"local"`
	Until time.Time  `json:"until"`
	Moves int        `json:"moves"`
}

// Hosts lists the hosts held, sorted by address.
func (e *Engine) Hosts(now time.Time) []HostInfo {
	out := make([]HostInfo, 0, len(e.hosts))
	for _, ip := range e.sortedHosts() {
		h := e.hosts[ip]
		hi := HostInfo{
			IP:            ip,
			Prefix:        hostPrefix(ip),
			Interface:     h.ifname,
			MAC:           h.mac,
			State:         "active",
			KernelState:   h.kstate,
			Seq:           h.seq,
			Sticky:        h.permanent,
			AgeSeconds:    now.Sub(h.learned).Seconds(),
			LastConfirmed: h.confirmed,
		}
		if h.permanent {
			hi.State = "permanent"
		}
		if h.probing {
			hi.State = "probing"
			hi.ProbeAttempts = h.attempts
		}
		if h.cand != nil {
			hi.Contender = h.cand.ifname
		}
		if m := e.mob[ip]; m != nil {
			hi.Frozen = m.frozen
			if m.frozen {
				hi.FrozenUntil = m.frozenUntil
			}
			hi.RecentMoves = len(m.moves)
		}
		if r, ok := e.remote[ip]; ok {
			s := r.seq
			hi.RemoteSeq = &s
		}
		out = append(out, hi)
	}
	return out
}

// Frozen lists frozen addresses, sorted.
func (e *Engine) Frozen() []FrozenInfo {
	var out []FrozenInfo
	for ip, m := range e.mob {
		if m.frozen {
			_, local := e.hosts[ip]
			out = append(out, FrozenInfo{IP: ip, Local: local, Until: m.frozenUntil, Moves: len(m.moves)})
		}
	}
	slices.SortFunc(out, func(a, b FrozenInfo) int { return a.IP.Compare(b.IP) })
	return out
}
