package neigh

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// MAC is an Ethernet address. A fixed array keeps events comparable and
// allocation-free, unlike net.HardwareAddr.
type MAC [6]byte

func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// IsZero reports whether m is 00:00:00:00:00:00, which the kernel reports
// for entries that have no link-layer address yet.
func (m MAC) IsZero() bool { return m == MAC{} }

// MarshalText makes MAC print as text in JSON.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what MarshalText wrote (clos show decodes the API's
// JSON).
func (m *MAC) UnmarshalText(b []byte) error {
	x, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = x
	return nil
}

// ParseMAC parses "aa:bb:cc:dd:ee:ff" (colons or dashes).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ':' || r == '-' })
	if len(parts) != 6 {
		return m, fmt.Errorf("MAC %q: want 6 hex octets separated by ':'", s)
	}
	for i, p := range parts {
		if len(p) != 2 {
			return m, fmt.Errorf("MAC %q: octet %q is not two hex digits", s, p)
		}
		var b byte
		for _, c := range []byte(p) {
			var v byte
			switch {
			case c >= '0' && c <= '9':
				v = c - '0'
			case c >= 'a' && c <= 'f':
				v = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				v = c - 'A' + 10
			default:
				return m, fmt.Errorf("MAC %q: octet %q is not two hex digits", s, p)
			}
			b = b<<4 | v
		}
		m[i] = b
	}
	return m, nil
}

// NUDState is the kernel's neighbor unreachability detection state, plus
// Deleted for RTM_DELNEIGH.
type NUDState uint8

const (
	NUDNone NUDState = iota
	NUDIncomplete
	NUDReachable
	NUDStale
	NUDDelay
	NUDProbe
	NUDFailed
	NUDNoARP
	NUDPermanent
	NUDDeleted
)

var nudNames = [...]string{"none", "incomplete", "reachable", "stale", "delay", "probe", "failed", "noarp", "permanent", "deleted"}

func (s NUDState) String() string {
	if int(s) < len(nudNames) {
		return nudNames[s]
	}
	return fmt.Sprintf("nud(%d)", uint8(s))
}

// MarshalText makes NUDState print as its name in JSON.
func (s NUDState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (s *NUDState) UnmarshalText(b []byte) error {
	x, err := ParseNUDState(string(b))
	if err != nil {
		return err
	}
	*s = x
	return nil
}

// ParseNUDState parses the names printed by String.
func ParseNUDState(s string) (NUDState, error) {
	for i, n := range nudNames {
		if n == s {
			return NUDState(i), nil
		}
	}
	return 0, fmt.Errorf("NUD state %q: want one of %s", s, strings.Join(nudNames[:], ", "))
}

// Event is an input to Engine.Step.
type Event interface{ isEvent() }

// NeighEvent is one kernel neighbor table change (RTM_NEWNEIGH with its
// state, or RTM_DELNEIGH as State NUDDeleted).
type NeighEvent struct {
	Interface string
	IP        netip.Addr
	MAC       MAC
	State     NUDState
}

// RemoteRoute is a host route another leaf advertises, as the RIB sees it
// after best-path selection, with its mobility sequence number.
type RemoteRoute struct {
	Prefix netip.Prefix
	Seq    uint32
	Sticky bool
}

// RemoteWithdraw says no other leaf advertises Prefix any more.
type RemoteWithdraw struct {
	Prefix netip.Prefix
}

// LinkEvent reports an interface going down or up. Hosts behind a down
// link are withdrawn at once instead of after probing a dead port.
type LinkEvent struct {
	Interface string
	Up        bool
}

// AdminRelease unfreezes a host before its hold time ends (`clos` admin
// command). An invalid IP releases every frozen host.
type AdminRelease struct {
	IP netip.Addr
}

// Tick only advances time: it fires due timers.
type Tick struct{}

func (NeighEvent) isEvent()     {}
func (RemoteRoute) isEvent()    {}
func (RemoteWithdraw) isEvent() {}
func (LinkEvent) isEvent()      {}
func (AdminRelease) isEvent()   {}
func (Tick) isEvent()           {}

// Action is an output of the engine for the daemon to carry out.
type Action interface{ isAction() }

// Originate asks BGP to advertise Prefix (a /32 or /128) with the mobility
// extended community MobilityCommunity(Seq, Sticky) and, when non-zero,
// the standard Community. It replaces an earlier Originate of the same
// prefix (a new seq or a new interface).
type Originate struct {
	Prefix    netip.Prefix
	Interface string
	MAC       MAC
	Seq       uint32
	Sticky    bool
	Community uint32
}

// Withdraw asks BGP to stop advertising Prefix.
type Withdraw struct {
	Prefix    netip.Prefix
	Interface string
}

// Probe asks the daemon to send one unicast ARP request or neighbor
// solicitation to IP at MAC out of Interface (on Linux: set the kernel
// entry to NUD_PROBE). The answer comes back as a NUDReachable event.
type Probe struct {
	Interface string
	IP        netip.Addr
	MAC       MAC
	Attempt   int // 1-based
}

// SetKernelTimers asks the daemon to set the kernel's per-interface
// neighbor parameters (both IPv4 and IPv6) so that the kernel's own
// probing matches the engine's: one unicast probe per Probe action, spaced
// by the engine, and no garbage collection of stale entries before the
// engine ages them.
type SetKernelTimers struct {
	Interface     string
	BaseReachable time.Duration // base_reachable_time_ms
	RetransTime   time.Duration // retrans_time_ms
	GCStale       time.Duration // gc_stale_time (seconds)
	UcastSolicit  int           // ucast_solicit
}

// LogKind classifies Log actions so the daemon can count and rate-limit
// them.
type LogKind string

const (
	LogLearned         LogKind = "learned"
	LogOutsidePrefix   LogKind = "outside-prefix"
	LogLimit           LogKind = "limit"
	LogStaticMismatch  LogKind = "static-mismatch"
	LogNotUnicast      LogKind = "not-unicast"
	LogGateway         LogKind = "gateway-address"
	LogWithdrawn       LogKind = "withdrawn"
	LogMoved           LogKind = "moved"
	LogMACChanged      LogKind = "mac-changed"
	LogFrozenIgnored   LogKind = "frozen-ignored"
	LogUnfrozen        LogKind = "unfrozen"
	LogRemoteSticky    LogKind = "remote-sticky"
	LogSeqSaturated    LogKind = "seq-saturated"
	LogBadRemotePrefix LogKind = "bad-remote-prefix"
)

// Log is a notable event for the log and metrics.
type Log struct {
	Kind      LogKind
	Interface string
	IP        netip.Addr
	MAC       MAC
	Msg       string
}

// Conflict reports two claims on one address: a held host against another
// port of this leaf, or against a remote leaf with a higher sequence.
type Conflict struct {
	IP        netip.Addr
	Interface string // where we hold it
	MAC       MAC
	Other     string // the other port, or "remote"
	OtherMAC  MAC
	Msg       string
}

// Freeze reports a host frozen by flap detection (Frozen true) or released.
type Freeze struct {
	IP        netip.Addr
	Interface string // "" when frozen while the host is elsewhere
	Frozen    bool
	Until     time.Time // zero when released
	Moves     int
}

func (Originate) isAction()       {}
func (Withdraw) isAction()        {}
func (Probe) isAction()           {}
func (SetKernelTimers) isAction() {}
func (Log) isAction()             {}
func (Conflict) isAction()        {}
func (Freeze) isAction()          {}
