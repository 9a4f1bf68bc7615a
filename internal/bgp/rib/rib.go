// Package rib is the BGP routing information base of closd as a pure engine:
// Adj-RIB-In per peer (after import policy), the Loc-RIB with best path and
// multipath selection (RFC 4271 9.1), and the Adj-RIB-Out of update groups
// whose UPDATE messages are encoded once and sent to every member.
//
// The engine does no I/O, reads no clock and starts no goroutine. The daemon
// feeds it (ApplyUpdate, PeerUp, PeerDown, EndOfRIB, Originate...) and then
// calls Ready, which returns everything that follows as plain data: best path
// changes, ECMP next-hop sets for the FIB, discard routes, and the encoded
// messages each peer must be sent. Work is batched between Ready calls, so a
// prefix that changes many times in one batch is decided once.
package rib

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// PeerID names a peer inside one Engine. IDs are small and reused after
// RemovePeer, so they index slices directly.
type PeerID uint32

// PeerType says whether a session is external or internal BGP.
type PeerType uint8

const (
	EBGP PeerType = iota + 1
	IBGP
)

func (t PeerType) String() string {
	switch t {
	case EBGP:
		return "ebgp"
	case IBGP:
		return "ibgp"
	}
	return fmt.Sprintf("PeerType(%d)", uint8(t))
}

// RemovePrivateAS is the remove-private-AS mode towards a peer (seed 002
// 7.2.4).
type RemovePrivateAS uint8

const (
	// KeepPrivateAS sends the path as it is.
	KeepPrivateAS RemovePrivateAS = iota
	// RemovePrivateAll drops every private ASN from the path.
	RemovePrivateAll
	// ReplacePrivateAS writes the local AS in place of each private ASN, so
	// the path keeps its length (and its weight in best-path selection).
	ReplacePrivateAS
)

// PeerConfig is what the engine needs to know about a neighbor.
type PeerConfig struct {
	Type PeerType
	// LocalAS is our AS on this session; 0 means Config.LocalAS.
	LocalAS uint32
	PeerAS  uint32
	// Address is the peer's address: the last best-path tie-breaker and the
	// identity used in output.
	Address netip.Addr
	// LocalAddress is our address on the session: the next hop we advertise
	// with next-hop-self. LocalLinkLocal is an optional IPv6 link-local
	// address sent beside an IPv6 global next hop (RFC 2545 3).
	LocalAddress   netip.Addr
	LocalLinkLocal netip.Addr
	// AllowASIn accepts paths that contain our own AS up to this many times
	// (seed 002 7.2.2: ToR ASNs reused across clusters). 0 rejects any.
	AllowASIn int
	// Weight is a local preference of this peer's paths, compared before
	// LOCAL_PREF (higher wins), as FRR's neighbor weight.
	Weight uint32

	// Import filters and rewrites received paths; nil accepts all.
	Import Policy
	// Export filters and rewrites advertised paths; nil accepts all.
	// ExportName identifies the export policy for update grouping: peers
	// share a group only if their names are equal, since policies are not
	// comparable values.
	Export     Policy
	ExportName string

	// NextHopUnchanged keeps the received next hop towards an eBGP peer
	// (third-party next hop, route servers and controllers, seed 002 7.5).
	NextHopUnchanged bool
	// ResolveNextHop resolves this peer's next hops through the Loc-RIB
	// for the FIB: for multihop sessions (controllers injecting routes,
	// seed 002 7.5), whose next hops are not on a connected subnet.
	ResolveNextHop bool
	// NextHopSelf sets our address as next hop towards an iBGP peer.
	NextHopSelf     bool
	RemovePrivateAS RemovePrivateAS
	// NoSendCommunity strips standard, extended and large communities.
	NoSendCommunity bool
	// DefaultOriginate advertises 0.0.0.0/0 and ::/0 to this peer whether
	// or not we have a default route (seed 002 7.2.4).
	DefaultOriginate bool
	// AddPathSend advertises every ECMP member with its own path ID when
	// add-path send was negotiated for the family (RFC 7911, seed 002 7.5).
	AddPathSend bool

	// MaxPrefix limits accepted prefixes (all families together); 0 is no
	// limit. At MaxPrefixWarnPct percent of it (0 means 75) a warning is
	// reported once; above it a PeerEvent with MaxPrefixExceeded asks the
	// daemon to close the session (and, with MaxPrefixRestart, to retry
	// after that delay).
	MaxPrefix        uint32
	MaxPrefixWarnPct uint8
	MaxPrefixRestart time.Duration
	// MaxPrefixWarnOnly only warns and keeps accepting.
	MaxPrefixWarnOnly bool
	// MRAI spaces announcements to the peer's update group (RFC 4271
	// 9.2.1.1); 0, the default, sends at once. Withdrawals never wait.
	MRAI time.Duration
	// SoftReconfigInbound keeps every received path as it came, before
	// the import policy (softin.go), so that a new import policy is run
	// over the stored paths instead of asking the peer for a
	// ROUTE-REFRESH, and ReceivedRoutes can show them.
	SoftReconfigInbound bool
}

// Config is the engine-wide configuration.
type Config struct {
	LocalAS  uint32
	RouterID netip.Addr
	// ClusterID is our route reflection cluster ID, used only to reject
	// reflected paths that loop back (RFC 4456 8); 0 means the router ID.
	ClusterID uint32
	// MaxPaths is the largest ECMP set (default 64, 1 disables multipath).
	MaxPaths int
	// MultipathRelax lets paths through different neighbor ASes be equal
	// as long as their AS paths have the same length (seed 002 7.3.2).
	MultipathRelax bool
	// AlwaysCompareMED compares MED between paths from different
	// neighbor ASes.
	AlwaysCompareMED bool
	// DisableEnforceFirstAS accepts eBGP paths whose first AS is not the
	// peer's, as from a route server; by default they are rejected, as FRR
	// does.
	DisableEnforceFirstAS bool
}

// ErrUnknownPeer is returned for a PeerID that AddPeer did not give out.
var ErrUnknownPeer = errors.New("rib: unknown peer")

// family slots: the engine carries IPv4 and IPv6 unicast.
const (
	famV4 = 0
	famV6 = 1
	nFam  = 2
)

var families = [nFam]wire.Family{wire.IPv4Unicast, wire.IPv6Unicast}

func famSlot(f wire.Family) (int, bool) {
	switch f {
	case wire.IPv4Unicast:
		return famV4, true
	case wire.IPv6Unicast:
		return famV6, true
	}
	return 0, false
}

// localPeer is the pseudo-peer that owns locally originated paths
// (networks, redistributed connected prefixes, aggregates).
const localPeer PeerID = 0

type peer struct {
	used bool
	cfg  PeerConfig
	// localAS is cfg.LocalAS resolved.
	localAS  uint32
	routerID netip.Addr
	up       bool
	opts     wire.Options
	fams     [nFam]bool
	group    int // index in Engine.groups, -1 when not in one
	prefixes uint32
	warned   bool
	over     bool
	// stale counts stale paths per family (graceful restart receive side).
	stale [nFam]int
	// in is the pre-policy Adj-RIB-In, nil without SoftReconfigInbound.
	in *adjIn
}

// Engine is the RIB. It is not safe for concurrent use: the daemon's event
// loop owns it.
type Engine struct {
	cfg    Config
	peers  []peer
	attrs  attrTable
	nhs    nhTable
	ecmp   ecmpTable
	tables [nFam]table
	groups []*updateGroup
	// originated holds locally originated prefixes and their attributes.
	orig    [nFam]map[netip.Prefix]*wire.PathAttrs
	aggs    [nFam]map[netip.Prefix]*aggregate
	out     Output
	pending Output
	keyBuf  []byte
	rejects Rejects
	idxBuf  []int
	outBuf  []outPath
	// encodes and copies count messages built and next-hop-patched
	// copies (Encodes, Copies).
	encodes uint64
	copies  uint64
	mob     mobilityWatch
	// deferInitial holds initial updates (deferral.go) except those of
	// the peers in deferExempt.
	deferInitial bool
	deferExempt  map[PeerID]bool
}

// New makes an engine. It fails on a configuration that cannot work.
func New(cfg Config) (*Engine, error) {
	if cfg.LocalAS == 0 {
		return nil, errors.New("rib: Config.LocalAS must be set")
	}
	if !cfg.RouterID.Is4() {
		return nil, fmt.Errorf("rib: Config.RouterID %v must be an IPv4 address", cfg.RouterID)
	}
	if cfg.MaxPaths == 0 {
		cfg.MaxPaths = 64
	}
	if cfg.MaxPaths < 1 || cfg.MaxPaths > 1024 {
		return nil, fmt.Errorf("rib: Config.MaxPaths %d must be between 1 and 1024", cfg.MaxPaths)
	}
	if cfg.ClusterID == 0 {
		b := cfg.RouterID.As4()
		cfg.ClusterID = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	e := &Engine{cfg: cfg}
	e.attrs.init()
	e.nhs.init()
	e.ecmp.init()
	for i := range e.tables {
		e.tables[i].init()
		e.orig[i] = map[netip.Prefix]*wire.PathAttrs{}
		e.aggs[i] = map[netip.Prefix]*aggregate{}
	}
	// Slot 0 is the local pseudo-peer.
	e.peers = append(e.peers, peer{used: true, cfg: PeerConfig{Type: IBGP, Address: netip.IPv4Unspecified()}, localAS: cfg.LocalAS, routerID: cfg.RouterID, group: -1})
	return e, nil
}

// AddPeer registers a neighbor. Its paths count only after PeerUp.
func (e *Engine) AddPeer(c PeerConfig) (PeerID, error) {
	if c.Type != EBGP && c.Type != IBGP {
		return 0, fmt.Errorf("rib: peer %v: Type must be EBGP or IBGP", c.Address)
	}
	if !c.Address.IsValid() {
		return 0, errors.New("rib: peer Address must be set")
	}
	if c.PeerAS == 0 {
		return 0, fmt.Errorf("rib: peer %v: PeerAS must be set", c.Address)
	}
	if c.AllowASIn < 0 || c.AllowASIn > 10 {
		return 0, fmt.Errorf("rib: peer %v: AllowASIn %d must be between 0 and 10", c.Address, c.AllowASIn)
	}
	if c.MaxPrefixWarnPct > 100 {
		return 0, fmt.Errorf("rib: peer %v: MaxPrefixWarnPct %d must be at most 100", c.Address, c.MaxPrefixWarnPct)
	}
	p := peer{used: true, cfg: c, localAS: c.LocalAS, group: -1}
	if p.localAS == 0 {
		p.localAS = e.cfg.LocalAS
	}
	if c.SoftReconfigInbound {
		p.in = &adjIn{}
	}
	for i := 1; i < len(e.peers); i++ {
		if !e.peers[i].used {
			e.peers[i] = p
			return PeerID(i), nil
		}
	}
	if len(e.peers) >= 1<<20 {
		return 0, errors.New("rib: too many peers")
	}
	e.peers = append(e.peers, p)
	return PeerID(len(e.peers) - 1), nil
}

func (e *Engine) peer(id PeerID) (*peer, error) {
	if id == localPeer || int(id) >= len(e.peers) || !e.peers[id].used {
		return nil, fmt.Errorf("%w %d", ErrUnknownPeer, id)
	}
	return &e.peers[id], nil
}

// RemovePeer forgets a neighbor and all its paths.
func (e *Engine) RemovePeer(id PeerID) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	if err := e.PeerDown(id, false); err != nil {
		return err
	}
	*p = peer{group: -1}
	return nil
}

// PeerUp marks a session established with what it negotiated: the peer's
// BGP identifier, the encoding options and the families both sides carry.
// Stale paths from before a graceful restart stay until EndOfRIB or
// StaleTimeout. The peer joins its update group and Ready returns the
// group's whole Adj-RIB-Out for it, followed by End-of-RIB.
func (e *Engine) PeerUp(id PeerID, routerID netip.Addr, opts wire.Options, fams []wire.Family) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	if p.up {
		return fmt.Errorf("rib: peer %v is already up", p.cfg.Address)
	}
	p.up = true
	p.routerID = routerID
	p.opts = opts
	p.fams = [nFam]bool{}
	for _, f := range fams {
		if s, ok := famSlot(f); ok {
			p.fams[s] = true
		}
	}
	p.warned, p.over = false, false
	e.joinGroup(id)
	return nil
}

// PeerDown ends a session. With graceful false every path of the peer goes
// now; with graceful true (RFC 4724 4.2, receive side) they stay, marked
// stale, until EndOfRIB for their family or StaleTimeout, both of which the
// daemon calls; stale paths take part in selection as usual.
func (e *Engine) PeerDown(id PeerID, graceful bool) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	p.up = false
	delete(e.deferExempt, id)
	e.leaveGroup(id)
	e.softInClear(p)
	for s := range e.tables {
		t := &e.tables[s]
		if graceful {
			p.stale[s] += t.markStale(e, id)
		} else {
			t.removePeer(e, id, false)
			p.stale[s] = 0
		}
	}
	if !graceful {
		p.prefixes = 0
	}
	return nil
}

// EndOfRIB records that the peer finished its initial update for family f
// (RFC 4724 4.2): paths still stale are withdrawn.
func (e *Engine) EndOfRIB(id PeerID, f wire.Family) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	s, ok := famSlot(f)
	if !ok {
		return nil
	}
	if p.stale[s] > 0 {
		e.tables[s].removePeer(e, id, true)
		p.stale[s] = 0
	}
	return nil
}

// StaleTimeout is the restart or stale-path timer of a peer firing: every
// path still stale is withdrawn, in all families.
func (e *Engine) StaleTimeout(id PeerID) error {
	p, err := e.peer(id)
	if err != nil {
		return err
	}
	for s := range e.tables {
		if p.stale[s] > 0 {
			e.tables[s].removePeer(e, id, true)
			p.stale[s] = 0
		}
	}
	return nil
}
