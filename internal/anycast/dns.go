package anycast

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// The few DNS pieces (RFC 1035 4.1) a health check needs: one question out,
// header and answer records back.

const (
	typeA     uint16 = 1
	typeCNAME uint16 = 5
	typeAAAA  uint16 = 28
	classIN   uint16 = 1

	dnsHeaderLen = 12
	flagQR       = 1 << 15
	flagTC       = 1 << 9
	flagRD       = 1 << 8
	maxNameLen   = 255 // wire length, RFC 1035 3.1
	// maxPointers bounds compression pointer chasing; a longer chain is a
	// loop or an attack, since a 255-octet name has at most 127 labels.
	maxPointers = 128
)

var errTruncated = errors.New("message truncated")

// encodeName appends name in wire form. A trailing dot is optional; "." or
// "" is the root.
func encodeName(b []byte, name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return nil, errors.New("empty name; want a domain name such as example.com")
	}
	start := len(b)
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 {
			return nil, errors.New("empty label")
		}
		if len(label) > 63 {
			return nil, fmt.Errorf("label %q longer than 63 octets", label)
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0)
	if len(b)-start > maxNameLen {
		return nil, fmt.Errorf("name longer than %d octets", maxNameLen)
	}
	return b, nil
}

// buildQuery returns a recursive query for one name and type in class IN.
func buildQuery(id uint16, name string, qtype uint16) ([]byte, error) {
	b := make([]byte, dnsHeaderLen, 64)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], flagRD)
	binary.BigEndian.PutUint16(b[4:], 1) // QDCOUNT
	b, err := encodeName(b, name)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint16(b, qtype)
	b = binary.BigEndian.AppendUint16(b, classIN)
	return b, nil
}

// dnsQuestion is one entry of the question section.
type dnsQuestion struct {
	Name  string
	Type  uint16
	Class uint16
}

// dnsRecord is one resource record; Data is the raw RDATA.
type dnsRecord struct {
	Name  string
	Type  uint16
	Class uint16
	TTL   uint32
	Data  []byte
}

// dnsResponse is the part of a reply the check looks at. Authority and
// additional sections are not decoded.
type dnsResponse struct {
	ID        uint16
	Flags     uint16
	RCode     int
	Questions []dnsQuestion
	Answers   []dnsRecord
}

// parseResponse decodes the header, questions and answers of a DNS message.
// It rejects what a check must not trust: truncation, pointer loops,
// forward or self pointers, names over 255 octets, counts beyond the data.
func parseResponse(msg []byte) (*dnsResponse, error) {
	if len(msg) < dnsHeaderLen {
		return nil, errTruncated
	}
	r := &dnsResponse{
		ID:    binary.BigEndian.Uint16(msg[0:]),
		Flags: binary.BigEndian.Uint16(msg[2:]),
	}
	r.RCode = int(r.Flags & 0xf)
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	an := int(binary.BigEndian.Uint16(msg[6:]))
	off := dnsHeaderLen
	// Each question needs at least 5 octets and each record 11, so counts
	// that cannot fit are rejected before allocating for them.
	if qd*5+an*11 > len(msg)-off {
		return nil, fmt.Errorf("counts (%d questions, %d answers) exceed message length %d", qd, an, len(msg))
	}
	r.Questions = make([]dnsQuestion, 0, qd)
	for range qd {
		name, n, err := readName(msg, off)
		if err != nil {
			return nil, fmt.Errorf("question: %w", err)
		}
		off = n
		if len(msg)-off < 4 {
			return nil, errTruncated
		}
		r.Questions = append(r.Questions, dnsQuestion{
			Name:  name,
			Type:  binary.BigEndian.Uint16(msg[off:]),
			Class: binary.BigEndian.Uint16(msg[off+2:]),
		})
		off += 4
	}
	r.Answers = make([]dnsRecord, 0, an)
	for range an {
		name, n, err := readName(msg, off)
		if err != nil {
			return nil, fmt.Errorf("answer: %w", err)
		}
		off = n
		if len(msg)-off < 10 {
			return nil, errTruncated
		}
		rr := dnsRecord{
			Name:  name,
			Type:  binary.BigEndian.Uint16(msg[off:]),
			Class: binary.BigEndian.Uint16(msg[off+2:]),
			TTL:   binary.BigEndian.Uint32(msg[off+4:]),
		}
		rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
		off += 10
		if len(msg)-off < rdlen {
			return nil, errTruncated
		}
		rr.Data = msg[off : off+rdlen : off+rdlen]
		off += rdlen
		switch rr.Type {
		case typeA:
			if rdlen != 4 {
				return nil, fmt.Errorf("A record with %d octets of data", rdlen)
			}
		case typeAAAA:
			if rdlen != 16 {
				return nil, fmt.Errorf("AAAA record with %d octets of data", rdlen)
			}
		}
		r.Answers = append(r.Answers, rr)
	}
	return r, nil
}

// readName decodes a possibly compressed name at off and returns it in
// dotted form (lower-cased, no trailing dot; "." for the root) and the offset
// just past it in the original position.
func readName(msg []byte, off int) (string, int, error) {
	var sb strings.Builder
	end := -1
	wire := 0
	pos := off
	for hops := 0; ; {
		if pos >= len(msg) {
			return "", 0, errTruncated
		}
		c := int(msg[pos])
		switch c & 0xc0 {
		case 0x00:
			pos++
			wire += c + 1
			if wire > maxNameLen {
				return "", 0, fmt.Errorf("name longer than %d octets", maxNameLen)
			}
			if c == 0 {
				if end < 0 {
					end = pos
				}
				name := sb.String()
				if name == "" {
					name = "."
				}
				return name, end, nil
			}
			if len(msg)-pos < c {
				return "", 0, errTruncated
			}
			if sb.Len() > 0 {
				sb.WriteByte('.')
			}
			sb.WriteString(strings.ToLower(string(msg[pos : pos+c])))
			pos += c
		case 0xc0:
			if len(msg)-pos < 2 {
				return "", 0, errTruncated
			}
			ptr := int(binary.BigEndian.Uint16(msg[pos:]) & 0x3fff)
			// Pointers must go backwards (RFC 1035 4.1.4 "prior
			// occurrence"); that alone rules out loops.
			if ptr >= pos {
				return "", 0, fmt.Errorf("compression pointer %d does not point backwards from %d", ptr, pos)
			}
			if end < 0 {
				end = pos + 2
			}
			hops++
			if hops > maxPointers {
				return "", 0, errors.New("too many compression pointers")
			}
			pos = ptr
		default:
			return "", 0, fmt.Errorf("reserved label type 0x%02x", c&0xc0)
		}
	}
}

// judgeDNS decides a dns check from a reply to the query (id, name, qtype).
func judgeDNS(msg []byte, id uint16, name string, qtype uint16) error {
	r, err := parseResponse(msg)
	if err != nil {
		return fmt.Errorf("bad reply: %w", err)
	}
	if r.ID != id || r.Flags&flagQR == 0 {
		return fmt.Errorf("reply id %d does not answer query %d", r.ID, id)
	}
	if r.RCode != 0 {
		return fmt.Errorf("rcode %d (%s)", r.RCode, rcodeName(r.RCode))
	}
	want := strings.ToLower(strings.TrimSuffix(name, "."))
	if len(r.Questions) != 1 || r.Questions[0].Name != want || r.Questions[0].Type != qtype {
		return errors.New("reply question does not match the query")
	}
	n := 0
	for _, a := range r.Answers {
		if a.Type == qtype && a.Class == classIN {
			n++
		}
	}
	if n == 0 {
		if r.Flags&flagTC != 0 {
			return errors.New("reply truncated (TC) with no usable answer")
		}
		return fmt.Errorf("no %s record in %d answers", qtypeName(qtype), len(r.Answers))
	}
	return nil
}

func qtypeName(t uint16) string {
	switch t {
	case typeA:
		return "A"
	case typeAAAA:
		return "AAAA"
	case typeCNAME:
		return "CNAME"
	}
	return fmt.Sprintf("TYPE%d", t)
}

func rcodeName(rc int) string {
	switch rc {
	case 1:
		return "FORMERR"
	case 2:
		return "SERVFAIL"
	case 3:
		return "NXDOMAIN"
	case 4:
		return "NOTIMP"
	case 5:
		return "REFUSED"
	}
	return "other"
}
