package fsm

import (
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
)

// Status is a snapshot of a session for `clos show bgp neighbor`.
type Status struct {
	State  string `json:"state"`
	PeerAS uint32 `json:"peer_as,omitempty"`
	PeerID string `json:"peer_router_id,omitempty"`
	// EstablishedAt is when the session last reached Established, zero
	// while it is not up; uptime is now minus this.
	EstablishedAt time.Time `json:"established_at,omitzero"`
	// Established counts how often the session came up, Flaps how often
	// it went down from Established.
	Established uint64 `json:"established_count"`
	Flaps       uint64 `json:"flaps"`
	Transitions uint64 `json:"transitions"`
	// SecondConnections counts connections reported to a session that
	// already had one; the daemon should have given them their own.
	SecondConnections uint64 `json:"second_connections,omitempty"`
	// ConsecutiveFailures drives the idle hold back-off; IdleHold is the
	// wait it gives now.
	ConsecutiveFailures int      `json:"consecutive_failures"`
	IdleHoldSeconds     float64  `json:"idle_hold_seconds"`
	HoldTimeSeconds     float64  `json:"hold_time_seconds,omitempty"`
	KeepaliveSeconds    float64  `json:"keepalive_seconds,omitempty"`
	Families            []string `json:"families,omitempty"`

	MessagesIn  MessageCounts `json:"messages_in"`
	MessagesOut MessageCounts `json:"messages_out"`
	// Ignored counts messages dropped as RFC 7313 says (unknown
	// ROUTE-REFRESH subtype); UpdateErrors those handled by RFC 7606
	// without a reset.
	Ignored         uint64 `json:"ignored"`
	UpdateErrors    uint64 `json:"update_errors"`
	LastUpdateError string `json:"last_update_error,omitempty"`

	LastSent     *NotificationInfo `json:"last_notification_sent,omitempty"`
	LastReceived *NotificationInfo `json:"last_notification_received,omitempty"`
	LastDown     string            `json:"last_down_reason,omitempty"`
	LastDownAt   time.Time         `json:"last_down_at,omitzero"`
}

// MessageCounts counts messages by type.
type MessageCounts struct {
	Open         uint64 `json:"open"`
	Update       uint64 `json:"update"`
	Notification uint64 `json:"notification"`
	Keepalive    uint64 `json:"keepalive"`
	RouteRefresh uint64 `json:"route_refresh"`
	// Malformed counts messages that did not parse (incoming only).
	Malformed uint64 `json:"malformed,omitempty"`
}

// Total is the sum over every type.
func (m MessageCounts) Total() uint64 {
	return m.Open + m.Update + m.Notification + m.Keepalive + m.RouteRefresh + m.Malformed
}

func (m *MessageCounts) count(msg wire.Message) {
	switch msg.(type) {
	case *wire.Open:
		m.Open++
	case *wire.Update:
		m.Update++
	case *wire.Notification:
		m.Notification++
	case *wire.Keepalive:
		m.Keepalive++
	case *wire.RouteRefresh:
		m.RouteRefresh++
	}
}

// NotificationInfo describes one NOTIFICATION.
type NotificationInfo struct {
	Code    uint8  `json:"code"`
	Subcode uint8  `json:"subcode"`
	Name    string `json:"name"`
	// Message is the RFC 9003 shutdown communication, if any.
	Message string    `json:"message,omitempty"`
	Data    []byte    `json:"data,omitempty"`
	At      time.Time `json:"at,omitzero"`
	// HardReset is set when the NOTIFICATION came wrapped in a Cease/Hard
	// Reset (RFC 8538); Code, Subcode and Data are then the wrapped one's,
	// the reason the session ended.
	HardReset bool `json:"hard_reset,omitempty"`
}

func notifInfo(n *wire.Notification, at time.Time) *NotificationInfo {
	hard := false
	if inner, ok := n.HardResetCause(); ok {
		n, hard = inner, true
	}
	i := &NotificationInfo{Code: n.Code, Subcode: n.Subcode, Name: n.String(), At: at, Data: append([]byte(nil), n.Data...), HardReset: hard}
	if hard {
		i.Name += " in a Hard Reset"
	}
	if msg, ok := n.ShutdownMessage(); ok {
		i.Message = msg
		i.Data = nil
	}
	return i
}

func (st *Status) countOut(m wire.Message) { st.MessagesOut.count(m) }

func (st *Status) countIn(m wire.Message, err error) {
	if m == nil && err != nil {
		st.MessagesIn.Malformed++
		return
	}
	st.MessagesIn.count(m)
}

// Status returns a snapshot; it shares nothing with the session.
func (s *Session) Status() Status {
	st := s.st
	st.State = s.state.String()
	st.ConsecutiveFailures = s.failures
	st.IdleHoldSeconds = s.IdleHoldTime().Seconds()
	if s.state >= StateOpenConfirm {
		st.HoldTimeSeconds = s.neg.HoldTime.Seconds()
		st.KeepaliveSeconds = s.neg.Keepalive.Seconds()
		for _, f := range s.neg.Families {
			st.Families = append(st.Families, f.String())
		}
	}
	if st.LastSent != nil {
		c := *st.LastSent
		st.LastSent = &c
	}
	if st.LastReceived != nil {
		c := *st.LastReceived
		st.LastReceived = &c
	}
	return st
}
