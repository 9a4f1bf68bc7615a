package wire

import (
	"encoding/binary"
	"fmt"
)

// UpdateBuilder packs prefixes that share one attribute set into as few
// UPDATE messages as the session's maximum length allows. The attributes
// are encoded once, when the builder is made, so an update group can build
// once and send the same bytes to every member.
type UpdateBuilder struct {
	family  Family
	maxLen  int
	addPath bool
	// common is every attribute except MP_REACH_NLRI, encoded.
	common []byte
	// mpHead is MP_REACH_NLRI's value up to its NLRI (AFI, SAFI, next
	// hop, reserved octet); nil when prefixes go in the classic field.
	mpHead []byte
}

// NewUpdateBuilder prepares announcements of family f with attrs. IPv4
// unicast uses the classic NLRI field and NEXT_HOP unless attrs.MPReach is
// set (an IPv6 next hop, RFC 8950); other families need attrs.MPReach for
// their next hop. The NLRI lists in attrs.MPReach and attrs.MPUnreach are
// ignored.
func NewUpdateBuilder(f Family, attrs *PathAttrs, opts *Options) (*UpdateBuilder, error) {
	if attrs == nil {
		return nil, fmt.Errorf("bgp: an announcement of %s needs path attributes", f)
	}
	if f != IPv4Unicast && f != IPv6Unicast {
		return nil, fmt.Errorf("bgp: cannot build UPDATEs for %s", f)
	}
	b := &UpdateBuilder{family: f, maxLen: opts.MaxLen(), addPath: opts.addPathSend(f)}
	if attrs.MPReach != nil {
		if attrs.MPReach.Family != f {
			return nil, fmt.Errorf("bgp: MP_REACH_NLRI is for %s, prefixes are %s", attrs.MPReach.Family, f)
		}
		head, err := appendMPReachHead(nil, attrs.MPReach, opts, false)
		if err != nil {
			return nil, err
		}
		b.mpHead = head
	} else if f != IPv4Unicast {
		return nil, fmt.Errorf("bgp: %s routes need MP_REACH_NLRI for their next hop", f)
	} else if !attrs.NextHop.IsValid() {
		return nil, fmt.Errorf("bgp: IPv4 routes need a NEXT_HOP")
	}
	common, err := attrs.appendAttrs(nil, opts, encodeNoMP)
	if err != nil {
		return nil, err
	}
	b.common = common
	return b, nil
}

// attrHeaderLen is the header size of an attribute with a value of n octets.
func attrHeaderLen(n int) int {
	if n > 0xff {
		return 4
	}
	return 3
}

// size is the length of a message carrying nlriBytes octets of prefixes.
func (b *UpdateBuilder) size(nlriBytes int) int {
	n := HeaderLen + 4 + len(b.common)
	if b.mpHead == nil {
		return n + nlriBytes
	}
	v := len(b.mpHead) + nlriBytes
	return n + attrHeaderLen(v) + v
}

// Append appends to msgs the whole messages (header included) announcing
// nlri, each in a buffer of its own. It fails without appending anything
// when a prefix is not of the builder's family or a single prefix does not
// fit beside the attributes.
func (b *UpdateBuilder) Append(msgs [][]byte, nlri []NLRI) ([][]byte, error) {
	for _, n := range nlri {
		if err := checkNLRIFamily(n, b.family.AFI); err != nil {
			return msgs, err
		}
	}
	if b.size(0) > b.maxLen || (len(nlri) > 0 && b.size(nlriLen(nlri[0], b.addPath)) > b.maxLen) {
		return msgs, fmt.Errorf("bgp: path attributes of %d octets leave no room for a prefix", len(b.common)+len(b.mpHead))
	}
	start := len(msgs)
	for i := 0; i < len(nlri); {
		used, j := 0, i
		for j < len(nlri) {
			l := nlriLen(nlri[j], b.addPath)
			if b.size(used+l) > b.maxLen {
				break
			}
			used += l
			j++
		}
		if j == i {
			return msgs[:start], fmt.Errorf("bgp: prefix %s does not fit beside the path attributes", nlri[i].Prefix())
		}
		total := b.size(used)
		msg := appendUpdateHeader(make([]byte, 0, total), total)
		msg = append(msg, 0, 0)
		attrLen := total - HeaderLen - 4
		if b.mpHead == nil {
			attrLen = len(b.common)
		}
		msg = binary.BigEndian.AppendUint16(msg, uint16(attrLen))
		if b.mpHead != nil {
			v := len(b.mpHead) + used
			if v > 0xff {
				msg = append(msg, flagsOptNonTrans|AttrFlagExtLen, AttrMPReach, byte(v>>8), byte(v))
			} else {
				msg = append(msg, flagsOptNonTrans, AttrMPReach, byte(v))
			}
			msg = append(msg, b.mpHead...)
			for _, n := range nlri[i:j] {
				msg = appendNLRI(msg, n, b.addPath)
			}
			msg = append(msg, b.common...)
		} else {
			msg = append(msg, b.common...)
			for _, n := range nlri[i:j] {
				msg = appendNLRI(msg, n, b.addPath)
			}
		}
		msgs = append(msgs, msg)
		i = j
	}
	return msgs, nil
}

// AppendUpdates is NewUpdateBuilder followed by one Append.
func AppendUpdates(msgs [][]byte, f Family, attrs *PathAttrs, nlri []NLRI, opts *Options) ([][]byte, error) {
	b, err := NewUpdateBuilder(f, attrs, opts)
	if err != nil {
		return msgs, err
	}
	return b.Append(msgs, nlri)
}

// AppendWithdrawals appends the whole messages withdrawing nlri of family
// f: the classic Withdrawn Routes field for IPv4 unicast, MP_UNREACH_NLRI
// for the others, as many prefixes per message as fit.
func AppendWithdrawals(msgs [][]byte, f Family, nlri []NLRI, opts *Options) ([][]byte, error) {
	if f != IPv4Unicast && f != IPv6Unicast {
		return msgs, fmt.Errorf("bgp: cannot build withdrawals for %s", f)
	}
	for _, n := range nlri {
		if err := checkNLRIFamily(n, f.AFI); err != nil {
			return msgs, err
		}
	}
	addPath, maxLen := opts.addPathSend(f), opts.MaxLen()
	classic := f == IPv4Unicast
	size := func(used int) int {
		if classic {
			return HeaderLen + 4 + used
		}
		return HeaderLen + 4 + attrHeaderLen(3+used) + 3 + used
	}
	for i := 0; i < len(nlri); {
		used, j := 0, i
		for j < len(nlri) {
			l := nlriLen(nlri[j], addPath)
			if size(used+l) > maxLen {
				break
			}
			used += l
			j++
		}
		total := size(used)
		msg := appendUpdateHeader(make([]byte, 0, total), total)
		if classic {
			msg = binary.BigEndian.AppendUint16(msg, uint16(used))
			for _, n := range nlri[i:j] {
				msg = appendNLRI(msg, n, addPath)
			}
			msg = append(msg, 0, 0)
		} else {
			msg = append(msg, 0, 0)
			msg = binary.BigEndian.AppendUint16(msg, uint16(total-HeaderLen-4))
			v := 3 + used
			if v > 0xff {
				msg = append(msg, flagsOptNonTrans|AttrFlagExtLen, AttrMPUnreach, byte(v>>8), byte(v))
			} else {
				msg = append(msg, flagsOptNonTrans, AttrMPUnreach, byte(v))
			}
			msg = binary.BigEndian.AppendUint16(msg, uint16(f.AFI))
			msg = append(msg, byte(f.SAFI))
			for _, n := range nlri[i:j] {
				msg = appendNLRI(msg, n, addPath)
			}
		}
		msgs = append(msgs, msg)
		i = j
	}
	return msgs, nil
}

// appendUpdateHeader writes the 19-octet header of an UPDATE of total
// length n (RFC 4271 4.1).
func appendUpdateHeader(dst []byte, n int) []byte {
	return append(dst,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		byte(n>>8), byte(n), byte(TypeUpdate))
}
