package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxLenFor is the largest message of type t this session accepts. RFC 8654
// section 4 exempts OPEN and KEEPALIVE from the extended length: an OPEN is
// exchanged before the capability is known, and a KEEPALIVE never grows.
// NOTIFICATION, UPDATE and ROUTE-REFRESH may use it once negotiated.
func maxLenFor(t MessageType, opts *Options) int {
	switch t {
	case TypeOpen:
		return MaxMessageLen
	case TypeKeepalive:
		return keepaliveLen
	}
	return opts.MaxLen()
}

// minLenFor is the smallest legal message of type t (RFC 4271 4.1-4.5,
// RFC 2918 3). A ROUTE-REFRESH shorter than 23 octets is not a header
// error: RFC 7313 5 answers it with ROUTE-REFRESH Message Error, which the
// body parser does, so framing only demands a header.
func minLenFor(t MessageType) int {
	switch t {
	case TypeOpen:
		return minOpenLen
	case TypeUpdate:
		return minUpdateLen
	case TypeNotification:
		return minNotificationLen
	case TypeKeepalive:
		return keepaliveLen
	}
	return HeaderLen
}

func knownType(t MessageType) bool {
	return t >= TypeOpen && t <= TypeRouteRefresh
}

// checkHeader validates a complete 19-octet header (RFC 4271 6.1) and
// returns the message length and type.
func checkHeader(h []byte, opts *Options) (int, MessageType, *Error) {
	for _, b := range h[:markerLen] {
		if b != 0xff {
			return 0, 0, &Error{
				Code: CodeMessageHeader, Subcode: SubConnectionNotSynchronized,
				Action: ActionSessionReset, Reason: "header marker is not all ones",
			}
		}
	}
	length := int(binary.BigEndian.Uint16(h[16:18]))
	t := MessageType(h[18])
	// The length is checked against the generic bounds before the type so
	// that a garbage header reports its length, as RFC 4271 6.1 lists it
	// first; a known type then tightens the bounds.
	if length < HeaderLen || length > opts.MaxLen() {
		return 0, 0, badLength(h[16:18], fmt.Sprintf("message length %d out of range", length))
	}
	if !knownType(t) {
		return 0, 0, &Error{
			Code: CodeMessageHeader, Subcode: SubBadMessageType, Data: []byte{h[18]},
			Action: ActionSessionReset, Reason: fmt.Sprintf("unknown message type %d", h[18]),
		}
	}
	if length < minLenFor(t) || length > maxLenFor(t, opts) {
		return 0, 0, badLength(h[16:18], fmt.Sprintf("%s length %d outside %d..%d", t, length, minLenFor(t), maxLenFor(t, opts)))
	}
	return length, t, nil
}

func badLength(field []byte, reason string) *Error {
	return &Error{
		Code: CodeMessageHeader, Subcode: SubBadMessageLength,
		Data: []byte{field[0], field[1]}, Action: ActionSessionReset, Reason: reason,
	}
}

// Split finds the first message in a stream buffer. It returns the length
// of that message once all of it is in buf, 0 and nil while more bytes are
// needed, and a *Error (Message Header Error, RFC 4271 6.1) as soon as the
// header is known to be bad, so a reader can answer a desynchronised peer
// without waiting for bytes that may never come. Its shape suits a
// bufio.SplitFunc wrapper.
func Split(buf []byte, opts *Options) (n int, err error) {
	// A marker byte that is not 0xff is fatal however little has arrived.
	for i := 0; i < len(buf) && i < markerLen; i++ {
		if buf[i] != 0xff {
			return 0, &Error{
				Code: CodeMessageHeader, Subcode: SubConnectionNotSynchronized,
				Action: ActionSessionReset, Reason: "header marker is not all ones",
			}
		}
	}
	if len(buf) < HeaderLen {
		return 0, nil
	}
	length, _, herr := checkHeader(buf, opts)
	if herr != nil {
		return 0, herr
	}
	if len(buf) < length {
		return 0, nil
	}
	return length, nil
}

// Parse decodes one whole message, header included, as Split delimited it.
// msg is not retained: every returned value owns its bytes. Errors are
// *Error and say which NOTIFICATION to send, or, for a ROUTE-REFRESH with
// an unknown subtype, that the message is to be ignored (ActionIgnore).
// An UPDATE with an RFC 7606 error whose Action is ActionTreatAsWithdraw
// or ActionAttributeDiscard comes back with both the *Update and the
// error, as ParseUpdate returns them; every other error comes with a nil
// Message.
func Parse(msg []byte, opts *Options) (Message, error) {
	if len(msg) < HeaderLen {
		return nil, &Error{
			Code: CodeMessageHeader, Subcode: SubBadMessageLength,
			Data:   binary.BigEndian.AppendUint16(nil, uint16(len(msg))),
			Action: ActionSessionReset, Reason: fmt.Sprintf("message of %d octets is shorter than a header", len(msg)),
		}
	}
	length, t, herr := checkHeader(msg, opts)
	if herr != nil {
		return nil, herr
	}
	if length != len(msg) {
		return nil, badLength(msg[16:18], fmt.Sprintf("header says %d octets, message has %d", length, len(msg)))
	}
	body := msg[HeaderLen:]
	switch t {
	case TypeOpen:
		o, err := ParseOpen(body)
		if err != nil {
			return nil, err
		}
		return o, nil
	case TypeUpdate:
		// RFC 7606 errors that keep the session return the Update too.
		u, err := ParseUpdate(body, opts)
		if u == nil {
			return nil, err
		}
		return u, err
	case TypeNotification:
		n, err := ParseNotification(body)
		if err != nil {
			return nil, err
		}
		return n, nil
	case TypeKeepalive:
		return &Keepalive{}, nil
	case TypeRouteRefresh:
		r, err := ParseRouteRefresh(body)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	// checkHeader rejects every other type.
	return nil, &Error{Code: CodeMessageHeader, Subcode: SubBadMessageType, Data: []byte{msg[18]}, Action: ActionSessionReset, Reason: "unknown message type"}
}

// errNilMessage is returned by Append for a nil message.
var errNilMessage = errors.New("bgp: cannot encode a nil message")

// Append encodes m with its header and appends it to dst. It fails, leaving
// dst's contents unchanged, when m cannot be represented or the result
// would exceed the length the session allows for its type (RFC 8654 4).
// The one exception is a NOTIFICATION, whose data is truncated to fit:
// reporting an error matters more than reporting all of it.
func Append(dst []byte, m Message, opts *Options) ([]byte, error) {
	if m == nil {
		return dst, errNilMessage
	}
	start := len(dst)
	dst = appendHeaderPlaceholder(dst, m.Type())
	var err error
	switch v := m.(type) {
	case *Open:
		if v == nil {
			return dst[:start], errNilMessage
		}
		dst, err = v.appendBody(dst)
	case *Update:
		if v == nil {
			return dst[:start], errNilMessage
		}
		dst, err = v.AppendBody(dst, opts)
	case *Notification:
		if v == nil {
			return dst[:start], errNilMessage
		}
		dst = v.appendBody(dst, maxLenFor(TypeNotification, opts)-HeaderLen)
	case *Keepalive:
	case *RouteRefresh:
		if v == nil {
			return dst[:start], errNilMessage
		}
		dst = v.appendBody(dst)
	default:
		return dst[:start], fmt.Errorf("bgp: cannot encode message type %T", m)
	}
	if err != nil {
		return dst[:start], err
	}
	n := len(dst) - start
	if max := maxLenFor(m.Type(), opts); n > max {
		return dst[:start], fmt.Errorf("bgp: %s of %d octets exceeds the session limit of %d", m.Type(), n, max)
	}
	binary.BigEndian.PutUint16(dst[start+16:], uint16(n))
	return dst, nil
}

func appendHeaderPlaceholder(dst []byte, t MessageType) []byte {
	dst = append(dst,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0, 0, byte(t))
	return dst
}
