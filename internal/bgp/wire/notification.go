package wire

import (
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// MaxShutdownMessageLen is the longest shutdown communication (RFC 9003 2).
const MaxShutdownMessageLen = 255

// ParseNotification decodes the body of a NOTIFICATION message (after the
// header). Any code and subcode is accepted: RFC 4271 6.4 gives no answer
// to a bad NOTIFICATION, the session closes anyway. Data is copied.
func ParseNotification(body []byte) (*Notification, error) {
	if len(body) < minNotificationLen-HeaderLen {
		return nil, &Error{
			Code: CodeMessageHeader, Subcode: SubBadMessageLength,
			Data:   []byte{0, byte(len(body) + HeaderLen)},
			Action: ActionSessionReset, Reason: fmt.Sprintf("NOTIFICATION body of %d octets is shorter than 2", len(body)),
		}
	}
	n := &Notification{Code: body[0], Subcode: body[1]}
	if len(body) > 2 {
		n.Data = slices.Clone(body[2:])
	}
	return n, nil
}

// appendBody appends the NOTIFICATION body, truncating Data so the body
// is at most max octets.
func (n *Notification) appendBody(dst []byte, max int) []byte {
	d := n.Data
	if len(d) > max-2 {
		d = d[:max-2]
	}
	dst = append(dst, n.Code, n.Subcode)
	return append(dst, d...)
}

// ShutdownNotification builds a Cease NOTIFICATION with the given subcode.
// For Administrative Shutdown and Administrative Reset, a non-empty msg is
// sent as the RFC 9003 shutdown communication, cut at a character boundary
// to 255 octets; other subcodes carry no data.
func ShutdownNotification(subcode uint8, msg string) *Notification {
	n := &Notification{Code: CodeCease, Subcode: subcode}
	if msg == "" || (subcode != SubAdminShutdown && subcode != SubAdminReset) {
		return n
	}
	if len(msg) > MaxShutdownMessageLen {
		cut := MaxShutdownMessageLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut]
	}
	n.Data = make([]byte, 0, 1+len(msg))
	n.Data = append(n.Data, byte(len(msg)))
	n.Data = append(n.Data, msg...)
	return n
}

// ShutdownMessage returns the RFC 9003 shutdown communication of an
// Administrative Shutdown or Reset. ok is false when there is none or it is
// malformed (length beyond the data, or not UTF-8), which RFC 9003 2 says
// to treat as absent; the NOTIFICATION itself stays valid.
func (n *Notification) ShutdownMessage() (msg string, ok bool) {
	if n.Code != CodeCease || (n.Subcode != SubAdminShutdown && n.Subcode != SubAdminReset) || len(n.Data) == 0 {
		return "", false
	}
	l := int(n.Data[0])
	if 1+l > len(n.Data) {
		return "", false
	}
	m := n.Data[1 : 1+l]
	if !utf8.Valid(m) {
		return "", false
	}
	return string(m), true
}

// HardReset reports whether n is a Cease/Hard Reset (RFC 8538 3), after
// which graceful restart state must not be kept.
func (n *Notification) HardReset() bool {
	return n.Code == CodeCease && n.Subcode == SubHardReset
}

// HardResetNotification wraps a NOTIFICATION in a Hard Reset (RFC 8538
// 3): the data is the inner error code, subcode and data. It is what a
// speaker that negotiated the N bit sends to end a session without letting
// the peer keep stale routes.
func HardResetNotification(inner *Notification) *Notification {
	d := make([]byte, 0, 2+len(inner.Data))
	d = append(d, inner.Code, inner.Subcode)
	return &Notification{Code: CodeCease, Subcode: SubHardReset, Data: append(d, inner.Data...)}
}

// HardResetCause returns the NOTIFICATION a Hard Reset carries (RFC 8538
// 3); ok is false when n is not a Hard Reset or its data is too short.
func (n *Notification) HardResetCause() (inner *Notification, ok bool) {
	if !n.HardReset() || len(n.Data) < 2 {
		return nil, false
	}
	inner = &Notification{Code: n.Data[0], Subcode: n.Data[1]}
	if len(n.Data) > 2 {
		inner.Data = slices.Clone(n.Data[2:])
	}
	return inner, true
}

var codeNames = [...]string{
	CodeMessageHeader:    "Message Header Error",
	CodeOpenMessage:      "OPEN Message Error",
	CodeUpdateMessage:    "UPDATE Message Error",
	CodeHoldTimerExpired: "Hold Timer Expired",
	// RFC 4271 calls code 5 "Finite State Machine Error"; FRR's vtysh
	// shows the older name, and operators compare the two side by side.
	CodeFSM:          "Neighbor Events Error",
	CodeCease:        "Cease",
	CodeRouteRefresh: "ROUTE-REFRESH Message Error",
}

var subcodeNames = [...][]string{
	CodeMessageHeader: {
		SubConnectionNotSynchronized: "Connection Not Synchronized",
		SubBadMessageLength:          "Bad Message Length",
		SubBadMessageType:            "Bad Message Type",
	},
	CodeOpenMessage: {
		SubUnsupportedVersion:       "Unsupported Version Number",
		SubBadPeerAS:                "Bad Peer AS",
		SubBadBGPIdentifier:         "Bad BGP Identifier",
		SubUnsupportedOptionalParam: "Unsupported Optional Parameter",
		SubAuthenticationFailure:    "Authentication Failure",
		SubUnacceptableHoldTime:     "Unacceptable Hold Time",
		SubUnsupportedCapability:    "Unsupported Capability",
		SubRoleMismatch:             "Role Mismatch",
	},
	CodeUpdateMessage: {
		SubMalformedAttributeList:    "Malformed Attribute List",
		SubUnrecognizedWellKnownAttr: "Unrecognized Well-known Attribute",
		SubMissingWellKnownAttr:      "Missing Well-known Attribute",
		SubAttributeFlagsError:       "Attribute Flags Error",
		SubAttributeLengthError:      "Attribute Length Error",
		SubInvalidOriginAttr:         "Invalid ORIGIN Attribute",
		SubASRoutingLoop:             "AS Routing Loop",
		SubInvalidNextHopAttr:        "Invalid NEXT_HOP Attribute",
		SubOptionalAttributeError:    "Optional Attribute Error",
		SubInvalidNetworkField:       "Invalid Network Field",
		SubMalformedASPath:           "Malformed AS_PATH",
	},
	CodeFSM: {
		SubFSMUnexpectedInOpenSent:    "Receive Unexpected Message in OpenSent State",
		SubFSMUnexpectedInOpenConfirm: "Receive Unexpected Message in OpenConfirm State",
		SubFSMUnexpectedInEstablished: "Receive Unexpected Message in Established State",
	},
	CodeCease: {
		SubMaxPrefixes:         "Maximum Number of Prefixes Reached",
		SubAdminShutdown:       "Administrative Shutdown",
		SubPeerDeconfigured:    "Peer De-configured",
		SubAdminReset:          "Administrative Reset",
		SubConnectionRejected:  "Connection Rejected",
		SubOtherConfigChange:   "Other Configuration Change",
		SubConnectionCollision: "Connection Collision Resolution",
		SubOutOfResources:      "Out of Resources",
		SubHardReset:           "Hard Reset",
		SubBFDDown:             "BFD Down",
	},
	CodeRouteRefresh: {
		SubInvalidMessageLength: "Invalid Message Length",
	},
}

// CodeName names a NOTIFICATION error code as RFC 4271 4.5 and FRR do.
func CodeName(code uint8) string {
	if int(code) < len(codeNames) && codeNames[code] != "" {
		return codeNames[code]
	}
	return "Unknown Error Code " + strconv.Itoa(int(code))
}

// SubcodeName names a subcode of code; subcode 0 is "Unspecific".
func SubcodeName(code, subcode uint8) string {
	if subcode == SubUnspecific {
		return "Unspecific"
	}
	if int(code) < len(subcodeNames) {
		if s := subcodeNames[code]; int(subcode) < len(s) && s[subcode] != "" {
			return s[subcode]
		}
	}
	return "Unknown Subcode " + strconv.Itoa(int(subcode))
}

// String names the code and subcode in words the way vtysh shows them,
// e.g. "Cease/Administrative Shutdown".
func (n *Notification) String() string {
	return CodeName(n.Code) + "/" + SubcodeName(n.Code, n.Subcode)
}
