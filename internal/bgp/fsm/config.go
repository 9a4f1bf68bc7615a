package fsm

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// Timer defaults. RFC 4271 10 suggests 120 s for ConnectRetry and 90 s
// for Hold; a fabric wants faster retries, so the daemon's config usually
// sets ConnectRetry to a few seconds.
const (
	DefaultConnectRetry    = 120 * time.Second
	DefaultHoldTime        = 90 * time.Second
	DefaultOpenHoldTime    = 240 * time.Second // RFC 4271 8.2.2: "large value" in OpenSent
	DefaultIdleHoldTime    = time.Second
	DefaultMaxIdleHoldTime = 120 * time.Second
	DefaultStableTime      = 60 * time.Second
	// MinHoldTime is the smallest non-zero hold time RFC 4271 4.2 allows.
	MinHoldTime = 3 * time.Second
)

// Config is what one session needs to know about itself and its peer.
type Config struct {
	// LocalAS is our AS; above 65535 it needs the 4-octet AS capability.
	LocalAS uint32
	// RouterID is our BGP Identifier (an IPv4 address).
	RouterID netip.Addr
	// PeerAS is the AS the peer must announce in its OPEN.
	PeerAS PeerAS

	// HoldTime we propose; the session uses the smaller of ours and the
	// peer's. 0 proposes no hold timer and no keepalives; otherwise at
	// least 3 s. Unset (0) means DefaultHoldTime unless NoHoldTime.
	HoldTime   time.Duration
	NoHoldTime bool
	// Keepalive is the interval we send KEEPALIVEs at once Established;
	// 0 means a third of the negotiated hold time, which also caps it
	// (RFC 4271 10), so a peer proposing a short hold still hears from us
	// in time.
	Keepalive time.Duration
	// MinPeerHoldTime rejects a peer hold time below it (other than 0) with
	// Unacceptable Hold Time; 0 accepts anything RFC 4271 allows (>= 3 s).
	MinPeerHoldTime time.Duration
	// ConnectRetry is the ConnectRetryTimer; 0 means DefaultConnectRetry.
	ConnectRetry time.Duration
	// OpenHoldTime is the hold timer while waiting for the peer's OPEN; 0
	// means DefaultOpenHoldTime.
	OpenHoldTime time.Duration
	// IdleHoldTime is the wait in Idle before a restart after a failure;
	// it doubles with each consecutive failure up to MaxIdleHoldTime
	// (RFC 4271 8.1.1 DampPeerOscillations). A session that stayed
	// Established for StableTime starts again from IdleHoldTime.
	IdleHoldTime    time.Duration
	MaxIdleHoldTime time.Duration
	StableTime      time.Duration

	// Passive never dials: the session only waits for the peer to connect
	// (RFC 4271 8.1.1 PassiveTcpEstablishment).
	Passive bool

	// Capabilities are sent in our OPEN.
	Capabilities wire.Capabilities
	// Required lists capability codes (wire.Cap*) the peer must send; a
	// peer without one gets OPEN Message Error/Unsupported Capability. For
	// wire.CapMultiprotocol every family we announce must be in the
	// peer's list.
	Required []uint8

	// Jitter returns a uniform value in [0, 1). When set, ConnectRetry,
	// keepalive and idle-hold intervals are multiplied by a factor between
	// 0.75 and 1 (RFC 4271 10) so many sessions do not fire in step. nil
	// means no jitter; the engine has no other source of randomness.
	Jitter func() float64
}

func (c *Config) withDefaults() (Config, error) {
	d := *c
	if !d.RouterID.Is4() || d.RouterID.IsUnspecified() {
		return d, fmt.Errorf("fsm: router ID %v must be a non-zero IPv4 address", d.RouterID)
	}
	if d.LocalAS == 0 {
		return d, fmt.Errorf("fsm: local AS 0 is not valid (RFC 7607)")
	}
	if d.LocalAS > math.MaxUint16 && !d.Capabilities.AS4 {
		return d, fmt.Errorf("fsm: local AS %d needs the 4-octet AS capability", d.LocalAS)
	}
	if !d.PeerAS.valid() {
		return d, fmt.Errorf("fsm: peer AS is not set: give a number, a range, %q or %q", "external", "internal")
	}
	if d.NoHoldTime {
		d.HoldTime = 0
	} else if d.HoldTime == 0 {
		d.HoldTime = DefaultHoldTime
	}
	if d.HoldTime != 0 && (d.HoldTime < MinHoldTime || d.HoldTime > math.MaxUint16*time.Second) {
		return d, fmt.Errorf("fsm: hold time %v must be 0 or between 3s and 65535s", d.HoldTime)
	}
	if d.HoldTime%time.Second != 0 {
		return d, fmt.Errorf("fsm: hold time %v is not a whole number of seconds (the OPEN carries seconds)", d.HoldTime)
	}
	if d.Keepalive < 0 || d.Keepalive%time.Second != 0 {
		return d, fmt.Errorf("fsm: keepalive time %v must be a positive whole number of seconds, or 0 for a third of the hold time", d.Keepalive)
	}
	def := func(v *time.Duration, x time.Duration, name string) error {
		if *v < 0 {
			return fmt.Errorf("fsm: %s %v is negative", name, *v)
		}
		if *v == 0 {
			*v = x
		}
		return nil
	}
	for _, e := range []struct {
		v    *time.Duration
		x    time.Duration
		name string
	}{
		{&d.ConnectRetry, DefaultConnectRetry, "connect retry time"},
		{&d.OpenHoldTime, DefaultOpenHoldTime, "open hold time"},
		{&d.IdleHoldTime, DefaultIdleHoldTime, "idle hold time"},
		{&d.MaxIdleHoldTime, DefaultMaxIdleHoldTime, "max idle hold time"},
		{&d.StableTime, DefaultStableTime, "stable time"},
	} {
		if err := def(e.v, e.x, e.name); err != nil {
			return d, err
		}
	}
	if d.MaxIdleHoldTime < d.IdleHoldTime {
		return d, fmt.Errorf("fsm: max idle hold time %v is below the idle hold time %v", d.MaxIdleHoldTime, d.IdleHoldTime)
	}
	return d, nil
}

// PeerAS says which AS numbers a peer may announce.
type PeerAS struct {
	kind   asKind
	ranges [][2]uint32
}

type asKind uint8

const (
	asUnset asKind = iota
	asList
	asExternal
	asInternal
)

// PeerASNumber accepts exactly as.
func PeerASNumber(as uint32) PeerAS { return PeerAS{kind: asList, ranges: [][2]uint32{{as, as}}} }

// PeerASExternal accepts any AS other than ours.
func PeerASExternal() PeerAS { return PeerAS{kind: asExternal} }

// PeerASInternal accepts only our own AS.
func PeerASInternal() PeerAS { return PeerAS{kind: asInternal} }

// ParsePeerAS reads "65001", "external", "internal", or a comma-separated
// list of numbers and ranges such as "65000-65099,65200" (for dynamic
// neighbors).
func ParsePeerAS(s string) (PeerAS, error) {
	switch s {
	case "external":
		return PeerASExternal(), nil
	case "internal":
		return PeerASInternal(), nil
	}
	p := PeerAS{kind: asList}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseASN(lo)
		if err != nil {
			return PeerAS{}, fmt.Errorf("peer AS %q: %v; want a number 1..4294967295, a range a-b, a list of those, %q or %q", s, err, "external", "internal")
		}
		b := a
		if isRange {
			if b, err = parseASN(hi); err != nil {
				return PeerAS{}, fmt.Errorf("peer AS %q: %v; want a number 1..4294967295, a range a-b, a list of those, %q or %q", s, err, "external", "internal")
			}
			if b < a {
				return PeerAS{}, fmt.Errorf("peer AS %q: range %d-%d is empty", s, a, b)
			}
		}
		p.ranges = append(p.ranges, [2]uint32{a, b})
	}
	return p, nil
}

func parseASN(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not an AS number", s)
	}
	return uint32(n), nil
}

func (p PeerAS) valid() bool { return p.kind != asUnset }

// Match reports whether a peer announcing peer is acceptable to a speaker
// in local.
func (p PeerAS) Match(local, peer uint32) bool {
	switch p.kind {
	case asExternal:
		return peer != local
	case asInternal:
		return peer == local
	case asList:
		return slices.ContainsFunc(p.ranges, func(r [2]uint32) bool { return peer >= r[0] && peer <= r[1] })
	}
	return false
}

func (p PeerAS) String() string {
	switch p.kind {
	case asExternal:
		return "external"
	case asInternal:
		return "internal"
	case asList:
		var parts []string
		for _, r := range p.ranges {
			if r[0] == r[1] {
				parts = append(parts, strconv.FormatUint(uint64(r[0]), 10))
			} else {
				parts = append(parts, fmt.Sprintf("%d-%d", r[0], r[1]))
			}
		}
		return strings.Join(parts, ",")
	}
	return "unset"
}
