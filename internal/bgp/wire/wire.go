// Package wire encodes and decodes BGP-4 messages (RFC 4271) and the
// extensions a data-center fabric uses: multiprotocol (RFC 4760), 4-octet AS
// (RFC 6793), add-path (RFC 7911), extended next hop (RFC 8950), route
// refresh (RFC 2918, 7313), graceful restart (RFC 4724), extended messages
// (RFC 8654), large communities (RFC 8092) and the revised error handling of
// RFC 7606.
//
// The package is pure: no I/O, no clock, no goroutines. How a message is
// encoded depends on what the session negotiated, so every call takes an
// *Options explicitly instead of guessing.
package wire

import "fmt"

// Message header sizes and limits (RFC 4271 4.1, RFC 8654).
const (
	HeaderLen          = 19
	MaxMessageLen      = 4096
	MaxExtendedLen     = 65535
	markerLen          = 16
	minOpenLen         = 29
	minUpdateLen       = 23
	minNotificationLen = 21
	keepaliveLen       = 19
	routeRefreshLen    = 23
)

// MessageType is the type octet of the BGP header.
type MessageType uint8

const (
	TypeOpen         MessageType = 1
	TypeUpdate       MessageType = 2
	TypeNotification MessageType = 3
	TypeKeepalive    MessageType = 4
	TypeRouteRefresh MessageType = 5
)

func (t MessageType) String() string {
	switch t {
	case TypeOpen:
		return "OPEN"
	case TypeUpdate:
		return "UPDATE"
	case TypeNotification:
		return "NOTIFICATION"
	case TypeKeepalive:
		return "KEEPALIVE"
	case TypeRouteRefresh:
		return "ROUTE-REFRESH"
	}
	return fmt.Sprintf("TYPE(%d)", uint8(t))
}

// AFI and SAFI identify an address family (RFC 4760).
type AFI uint16

type SAFI uint8

const (
	AFIIPv4 AFI = 1
	AFIIPv6 AFI = 2

	SAFIUnicast SAFI = 1
)

// Family is an AFI/SAFI pair. It is a small comparable value so it can key maps.
type Family struct {
	AFI  AFI
	SAFI SAFI
}

var (
	IPv4Unicast = Family{AFIIPv4, SAFIUnicast}
	IPv6Unicast = Family{AFIIPv6, SAFIUnicast}
)

func (f Family) String() string {
	switch f {
	case IPv4Unicast:
		return "ipv4-unicast"
	case IPv6Unicast:
		return "ipv6-unicast"
	}
	return fmt.Sprintf("afi%d-safi%d", f.AFI, f.SAFI)
}

// AddPathMode is the direction of an add-path capability (RFC 7911 4).
type AddPathMode uint8

const (
	AddPathReceive AddPathMode = 1
	AddPathSend    AddPathMode = 2
	AddPathBoth    AddPathMode = 3
)

// Options is what a session negotiated, and so how its messages are encoded
// and decoded. The zero value is a plain RFC 4271 session: 2-octet AS, no
// add-path, 4096-byte messages, IPv4 unicast only.
type Options struct {
	// AS4 is true when both sides sent the 4-octet AS capability; AS_PATH and
	// AGGREGATOR then carry 4-octet ASNs and AS4_PATH/AS4_AGGREGATOR are not
	// used (RFC 6793 4.1).
	AS4 bool
	// ExtendedMessage allows messages up to 65535 bytes (RFC 8654); it applies
	// to UPDATE and ROUTE-REFRESH only, never to OPEN or KEEPALIVE.
	ExtendedMessage bool
	// AddPathRecv lists the families whose NLRI we receive with path
	// identifiers; AddPathSend those we send with them (RFC 7911 3).
	AddPathRecv map[Family]bool
	AddPathSend map[Family]bool
	// ExtendedNextHop lists the NLRI families that may carry an IPv6 next hop
	// (RFC 8950); in practice IPv4 unicast.
	ExtendedNextHop map[Family]bool
}

// MaxLen is the largest UPDATE this session may send or receive.
func (o *Options) MaxLen() int {
	if o != nil && o.ExtendedMessage {
		return MaxExtendedLen
	}
	return MaxMessageLen
}

func (o *Options) as4() bool { return o != nil && o.AS4 }

func (o *Options) addPathRecv(f Family) bool { return o != nil && o.AddPathRecv[f] }

func (o *Options) addPathSend(f Family) bool { return o != nil && o.AddPathSend[f] }

// NOTIFICATION error codes (RFC 4271 4.5, RFC 7313 5).
const (
	CodeMessageHeader    uint8 = 1
	CodeOpenMessage      uint8 = 2
	CodeUpdateMessage    uint8 = 3
	CodeHoldTimerExpired uint8 = 4
	CodeFSM              uint8 = 5
	CodeCease            uint8 = 6
	CodeRouteRefresh     uint8 = 7
)

// Message Header Error subcodes.
const (
	SubConnectionNotSynchronized uint8 = 1
	SubBadMessageLength          uint8 = 2
	SubBadMessageType            uint8 = 3
)

// OPEN Message Error subcodes (RFC 4271, RFC 5492).
const (
	SubUnsupportedVersion       uint8 = 1
	SubBadPeerAS                uint8 = 2
	SubBadBGPIdentifier         uint8 = 3
	SubUnsupportedOptionalParam uint8 = 4
	SubUnacceptableHoldTime     uint8 = 6
	SubUnsupportedCapability    uint8 = 7
	SubRoleMismatch             uint8 = 11
)

// UPDATE Message Error subcodes.
const (
	SubMalformedAttributeList    uint8 = 1
	SubUnrecognizedWellKnownAttr uint8 = 2
	SubMissingWellKnownAttr      uint8 = 3
	SubAttributeFlagsError       uint8 = 4
	SubAttributeLengthError      uint8 = 5
	SubInvalidOriginAttr         uint8 = 6
	SubInvalidNextHopAttr        uint8 = 8
	SubOptionalAttributeError    uint8 = 9
	SubInvalidNetworkField       uint8 = 10
	SubMalformedASPath           uint8 = 11
)

// Cease subcodes (RFC 4486, RFC 9003).
const (
	SubMaxPrefixes         uint8 = 1
	SubAdminShutdown       uint8 = 2
	SubPeerDeconfigured    uint8 = 3
	SubAdminReset          uint8 = 4
	SubConnectionRejected  uint8 = 5
	SubOtherConfigChange   uint8 = 6
	SubConnectionCollision uint8 = 7
	SubOutOfResources      uint8 = 8
	SubHardReset           uint8 = 9
	SubBFDDown             uint8 = 10
)

// ROUTE-REFRESH Message Error subcode (RFC 7313 5).
const SubInvalidMessageLength uint8 = 1

// SubUnspecific is the subcode of an error no specific subcode describes
// (RFC 4271 4.5).
const SubUnspecific uint8 = 0

// OPEN Message Error subcode 5 is deprecated (RFC 4271 6.2, authentication).
const SubAuthenticationFailure uint8 = 5

// Finite State Machine Error subcodes (RFC 6608).
const (
	SubFSMUnexpectedInOpenSent    uint8 = 1
	SubFSMUnexpectedInOpenConfirm uint8 = 2
	SubFSMUnexpectedInEstablished uint8 = 3
)

// UPDATE Message Error subcode 7 is deprecated (RFC 4271 6.3).
const SubASRoutingLoop uint8 = 7

// ASTrans is the 2-octet AS placed in OPEN and AS_PATH by a speaker whose
// AS does not fit in 2 octets (RFC 6793 9).
const ASTrans uint16 = 23456

// Action is what the receiver must do about an error (RFC 7606 2).
type Action uint8

const (
	// ActionSessionReset: send the NOTIFICATION and close the session.
	ActionSessionReset Action = iota + 1
	// ActionAFISAFIDisable: stop the family; not used while every family we
	// run is required, so the caller treats it as a reset.
	ActionAFISAFIDisable
	// ActionTreatAsWithdraw: every NLRI of the UPDATE is withdrawn; the
	// session stays up (RFC 7606 2).
	ActionTreatAsWithdraw
	// ActionAttributeDiscard: the offending attribute is dropped and the rest
	// of the UPDATE is used (RFC 7606 2).
	ActionAttributeDiscard
	// ActionIgnore: the message is dropped and nothing is sent; the session
	// stays up. Used for a ROUTE-REFRESH with an unknown subtype (RFC 7313
	// 5). Code and Subcode then only classify the error for logs and
	// counters: no NOTIFICATION may be sent for it.
	ActionIgnore
)

func (a Action) String() string {
	switch a {
	case ActionSessionReset:
		return "session-reset"
	case ActionAFISAFIDisable:
		return "afi-safi-disable"
	case ActionTreatAsWithdraw:
		return "treat-as-withdraw"
	case ActionAttributeDiscard:
		return "attribute-discard"
	case ActionIgnore:
		return "ignore"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Error is a malformed-message error: the NOTIFICATION to send (code,
// subcode, data) and the RFC 7606 action to take. Reason is for logs.
type Error struct {
	Code    uint8
	Subcode uint8
	Data    []byte
	Action  Action
	// AttrType is the path attribute that caused it, 0 if none.
	AttrType uint8
	Reason   string
}

func (e *Error) Error() string {
	return fmt.Sprintf("bgp: %s (notification %d/%d, %s)", e.Reason, e.Code, e.Subcode, e.Action)
}

// Notification returns the NOTIFICATION message that reports e to the peer.
func (e *Error) Notification() *Notification {
	return &Notification{Code: e.Code, Subcode: e.Subcode, Data: e.Data}
}

// Message is one BGP message: *Open, *Update, *Notification, *Keepalive or
// *RouteRefresh.
type Message interface {
	Type() MessageType
}

// Notification reports an error and closes the session (RFC 4271 4.5).
type Notification struct {
	Code    uint8
	Subcode uint8
	Data    []byte
}

func (*Notification) Type() MessageType { return TypeNotification }

// Keepalive carries nothing but the header (RFC 4271 4.4).
type Keepalive struct{}

func (*Keepalive) Type() MessageType { return TypeKeepalive }
