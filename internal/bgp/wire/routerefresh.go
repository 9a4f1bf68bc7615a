package wire

import (
	"encoding/binary"
	"fmt"
)

// ROUTE-REFRESH message subtypes (RFC 7313 3).
const (
	RefreshNormal uint8 = 0 // a route refresh request (RFC 2918)
	RefreshBoRR   uint8 = 1 // beginning of route refresh
	RefreshEoRR   uint8 = 2 // end of route refresh
)

// RouteRefresh is the ROUTE-REFRESH message (RFC 2918 3, RFC 7313 3).
type RouteRefresh struct {
	Family  Family
	Subtype uint8
}

// Type reports TypeRouteRefresh.
func (*RouteRefresh) Type() MessageType { return TypeRouteRefresh }

// ParseRouteRefresh decodes the body of a ROUTE-REFRESH message (after the
// header).
//
// A body that is not 4 octets is answered with ROUTE-REFRESH Message
// Error/Invalid Message Length carrying the whole message (RFC 7313 5),
// except that a request (subtype 0) may be longer: RFC 5291 puts ORF
// entries there, and since we never advertise ORF they are skipped.
//
// An unknown subtype must be ignored (RFC 7313 5), whatever the length:
// the error then has Action ActionIgnore and must not be turned into a
// NOTIFICATION.
func ParseRouteRefresh(body []byte) (*RouteRefresh, error) {
	if len(body) >= 3 && body[2] > RefreshEoRR {
		return nil, &Error{
			Code: CodeRouteRefresh, Subcode: SubUnspecific, Action: ActionIgnore,
			Reason: fmt.Sprintf("ROUTE-REFRESH subtype %d is unknown", body[2]),
		}
	}
	if len(body) < 4 || (len(body) > 4 && body[2] != RefreshNormal) {
		msg := make([]byte, 0, HeaderLen+len(body))
		msg = appendHeaderPlaceholder(msg, TypeRouteRefresh)
		binary.BigEndian.PutUint16(msg[16:], uint16(HeaderLen+len(body)))
		msg = append(msg, body...)
		return nil, &Error{
			Code: CodeRouteRefresh, Subcode: SubInvalidMessageLength, Data: msg,
			Action: ActionSessionReset, Reason: fmt.Sprintf("ROUTE-REFRESH body of %d octets, want 4", len(body)),
		}
	}
	r := &RouteRefresh{
		Family:  Family{AFI(binary.BigEndian.Uint16(body)), SAFI(body[3])},
		Subtype: body[2],
	}
	return r, nil
}

func (r *RouteRefresh) appendBody(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(r.Family.AFI))
	return append(dst, r.Subtype, byte(r.Family.SAFI))
}
