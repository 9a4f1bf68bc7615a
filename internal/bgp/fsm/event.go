package fsm

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// State is a state of RFC 4271 8.2.2.
type State uint8

const (
	StateIdle State = iota
	StateConnect
	StateActive
	StateOpenSent
	StateOpenConfirm
	StateEstablished
)

var stateNames = [...]string{"Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Event is an input to Step. The numbers in the comments are RFC 4271 8.1.
type Event interface{ event() }

// ManualStart is events 1 and 4: the operator enabled the session.
type ManualStart struct{ Passive bool }

// ManualStop is event 2: the operator disabled the session (Cease/
// Administrative Shutdown) or, with Reset, asked for it to restart
// (Cease/Administrative Reset). Message is the RFC 9003 shutdown
// communication.
type ManualStop struct {
	Message string
	Reset   bool
}

// AutomaticStart is events 3 and 5: the daemon (re)starts the session.
type AutomaticStart struct{ Passive bool }

// AutomaticStop is event 8: the daemon stops the session for a reason of
// its own, sent as the Cease subcode (maximum prefixes, BFD down, peer
// de-configured, other configuration change). The session restarts after
// its idle hold time unless the subcode is Peer De-configured.
type AutomaticStop struct {
	Subcode uint8
	Message string
}

// Timer expiries, events 9, 10, 11 and 13. Tick produces them when their
// deadline passes; they can also be stepped directly.
type (
	ConnectRetryTimerExpires struct{}
	HoldTimerExpires         struct{}
	KeepaliveTimerExpires    struct{}
	IdleHoldTimerExpires     struct{}
)

// Tick fires every timer whose deadline is at or before now.
type Tick struct{}

// TcpConnectionConfirmed is events 16 and 17: our dial completed
// (Inbound false, Tcp_CR_Acked) or we accepted the peer's connection
// (Inbound true, TcpConnectionConfirmed).
type TcpConnectionConfirmed struct{ Inbound bool }

// TcpConnectionFails is event 18: the dial failed or the connection closed.
type TcpConnectionFails struct{ Reason string }

// RecvMessage is one message as wire.Parse returned it: Msg, Err or, for
// an UPDATE with an RFC 7606 error that keeps the session, both. It covers
// events 19 (BGPOpen), 21 (BGPHeaderErr), 22 (BGPOpenMsgErr), 24-25
// (NotifMsg), 26 (KeepAliveMsg), 27 (UpdateMsg), 28 (UpdateMsgErr) and
// ROUTE-REFRESH.
type RecvMessage struct {
	Msg wire.Message
	Err error
}

// OpenCollisionDump is event 23: this connection lost a collision (see
// Collision) and is closed with Cease/Connection Collision Resolution.
type OpenCollisionDump struct{}

func (ManualStart) event()              {}
func (ManualStop) event()               {}
func (AutomaticStart) event()           {}
func (AutomaticStop) event()            {}
func (ConnectRetryTimerExpires) event() {}
func (HoldTimerExpires) event()         {}
func (KeepaliveTimerExpires) event()    {}
func (IdleHoldTimerExpires) event()     {}
func (Tick) event()                     {}
func (TcpConnectionConfirmed) event()   {}
func (TcpConnectionFails) event()       {}
func (RecvMessage) event()              {}
func (OpenCollisionDump) event()        {}

// Action is an output of Step, for the daemon to carry out in order.
type Action interface{ action() }

// Connect asks the daemon to dial the peer.
type Connect struct{}

// AbortConnect asks the daemon to abandon a dial in progress, because the
// session is now using an inbound connection or is stopping.
type AbortConnect struct{}

// Send asks the daemon to send a message on the session's connection.
type Send struct{ Msg wire.Message }

// CloseConnection asks the daemon to close the connection once the
// messages already sent on it are written.
type CloseConnection struct{}

// Established reports the session is up with what was negotiated.
type Established struct{ Session Negotiated }

// Down reports the session left a connected state for Idle or Active.
// WasEstablished says the routes learned from the peer are now gone.
type Down struct {
	Reason         string
	Sent, Received *wire.Notification
	WasEstablished bool
}

// DeliverUpdate hands an UPDATE to the RIB. With TreatAsWithdraw, every
// prefix it announces is to be withdrawn (RFC 7606 2).
type DeliverUpdate struct {
	Update          *wire.Update
	TreatAsWithdraw bool
}

// DeliverRouteRefresh hands the peer's ROUTE-REFRESH to the RIB, which
// re-advertises the family (RFC 2918, 7313).
type DeliverRouteRefresh struct{ Refresh *wire.RouteRefresh }

func (Connect) action()             {}
func (AbortConnect) action()        {}
func (Send) action()                {}
func (CloseConnection) action()     {}
func (Established) action()         {}
func (Down) action()                {}
func (DeliverUpdate) action()       {}
func (DeliverRouteRefresh) action() {}

// Negotiated is what both OPENs settled.
type Negotiated struct {
	PeerAS   uint32
	PeerID   netip.Addr
	Inbound  bool
	HoldTime time.Duration
	// Keepalive is HoldTime/3, 0 when the hold time is 0.
	Keepalive time.Duration
	// Options encode and decode this session's UPDATEs.
	Options wire.Options
	// Families carried by both sides.
	Families             []wire.Family
	RouteRefresh         bool
	EnhancedRouteRefresh bool
	// PeerGracefulRestart is the peer's capability, nil if absent; ours is
	// in Config.Capabilities.
	PeerGracefulRestart *wire.GracefulRestart
	// GracefulNotification is set when both sides' Graceful Restart
	// capability has the N bit (RFC 8538): a NOTIFICATION other than
	// Cease/Hard Reset then ends the session as a TCP close would, and
	// the session's stops that mean it send a Hard Reset.
	GracefulNotification bool
	PeerCaps             wire.Capabilities
}

func (n Negotiated) String() string {
	var fams []string
	for _, f := range n.Families {
		fams = append(fams, f.String())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "peer-as=%d id=%s hold=%v keepalive=%v families=%s", n.PeerAS, n.PeerID, n.HoldTime, n.Keepalive, strings.Join(fams, ","))
	if n.Options.AS4 {
		b.WriteString(" as4")
	}
	if n.Options.ExtendedMessage {
		b.WriteString(" extended-message")
	}
	if n.RouteRefresh {
		b.WriteString(" route-refresh")
	}
	if n.EnhancedRouteRefresh {
		b.WriteString(" enhanced-route-refresh")
	}
	for _, f := range n.Families {
		if n.Options.AddPathRecv[f] {
			fmt.Fprintf(&b, " add-path-recv=%s", f)
		}
		if n.Options.AddPathSend[f] {
			fmt.Fprintf(&b, " add-path-send=%s", f)
		}
		if n.Options.ExtendedNextHop[f] {
			fmt.Fprintf(&b, " extended-nexthop=%s", f)
		}
	}
	if n.PeerGracefulRestart != nil {
		fmt.Fprintf(&b, " peer-graceful-restart=%ds", n.PeerGracefulRestart.Time)
	}
	if n.GracefulNotification {
		b.WriteString(" graceful-notification")
	}
	return b.String()
}
