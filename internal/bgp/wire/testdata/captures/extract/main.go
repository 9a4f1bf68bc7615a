// Command extract turns the pcap files written by scripts/capture-bgp.sh into
// the hex test vectors that capture_test.go reads: one BGP message per line,
// one file per direction of each session, with a "# " header naming the
// daemons and the options the session negotiated (from both OPENs).
//
// It reassembles TCP itself and parses OPEN capabilities itself, on purpose
// independently of package wire, which these files test.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var pcaps multiFlag
	flag.Var(&pcaps, "pcap", "PAIR=FILE, PAIR is first-second; repeatable")
	out := flag.String("out", ".", "output directory")
	versions := flag.String("versions", "", "daemon=version list for the header")
	flag.Parse()
	vers := map[string]string{}
	for _, kv := range strings.Fields(*versions) {
		k, v, _ := strings.Cut(kv, "=")
		vers[k] = v
	}
	for _, p := range pcaps {
		pair, file, ok := strings.Cut(p, "=")
		if !ok {
			log.Fatalf("-pcap %q: want PAIR=FILE", p)
		}
		names := strings.SplitN(pair, "-", 2)
		if len(names) != 2 {
			log.Fatalf("-pcap %q: pair must be first-second", p)
		}
		if err := extract(file, *out, names[0], names[1], vers); err != nil {
			log.Fatalf("%s: %v", file, err)
		}
	}
}

type flowKey struct {
	src, dst netip.AddrPort
}

type segment struct {
	seq  uint32
	data []byte
}

type flow struct {
	isn     uint32
	haveSyn bool
	segs    []segment
	order   int
}

func extract(file, outDir, first, second string, vers map[string]string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	flows := map[flowKey]*flow{}
	n := 0
	err = eachPacket(raw, func(src, dst netip.AddrPort, seq uint32, syn bool, payload []byte) {
		k := flowKey{src, dst}
		f := flows[k]
		if f == nil {
			f = &flow{order: n}
			n++
			flows[k] = f
		}
		if syn {
			f.isn, f.haveSyn = seq, true
			return
		}
		if len(payload) > 0 {
			f.segs = append(f.segs, segment{seq, append([]byte(nil), payload...)})
		}
	})
	if err != nil {
		return err
	}
	// The session is the connection that carried the most bytes; with one
	// side passive there should be exactly one.
	type conn struct{ a, b flowKey }
	var best *conn
	bestLen := -1
	for k := range flows {
		if !isFirst(k.src.Addr()) {
			continue
		}
		rk := flowKey{k.dst, k.src}
		if _, ok := flows[rk]; !ok {
			continue
		}
		l := len(flows[k].segs) + len(flows[rk].segs)
		if l > bestLen {
			bestLen, best = l, &conn{k, rk}
		}
	}
	if best == nil {
		return errors.New("no TCP connection with traffic both ways")
	}
	ab, err := reassemble(flows[best.a])
	if err != nil {
		return fmt.Errorf("%s->%s: %w", first, second, err)
	}
	ba, err := reassemble(flows[best.b])
	if err != nil {
		return fmt.Errorf("%s->%s: %w", second, first, err)
	}
	ma, err := split(ab)
	if err != nil {
		return fmt.Errorf("%s->%s: %w", first, second, err)
	}
	mb, err := split(ba)
	if err != nil {
		return fmt.Errorf("%s->%s: %w", second, first, err)
	}
	if len(ma) == 0 || ma[0][18] != 1 || len(mb) == 0 || mb[0][18] != 1 {
		return errors.New("a direction does not start with an OPEN")
	}
	ca, cb := parseCaps(ma[0]), parseCaps(mb[0])
	pair := first + "-" + second
	if err := write(filepath.Join(outDir, pair+"-"+first+"2"+second+".hex"), first, second, vers, ca, cb, ma); err != nil {
		return err
	}
	return write(filepath.Join(outDir, pair+"-"+second+"2"+first+".hex"), second, first, vers, cb, ca, mb)
}

// isFirst reports whether addr is the .1 (or ::1) end of a link, which the
// capture script gives to the first daemon of the pair.
func isFirst(a netip.Addr) bool {
	s := a.AsSlice()
	return s[len(s)-1] == 1
}

func eachPacket(raw []byte, fn func(src, dst netip.AddrPort, seq uint32, syn bool, payload []byte)) error {
	if len(raw) < 24 {
		return errors.New("short pcap header")
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(raw) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return errors.New("not a pcap file")
	}
	if lt := bo.Uint32(raw[20:]); lt != 1 {
		return fmt.Errorf("link type %d, want Ethernet", lt)
	}
	for p := raw[24:]; len(p) > 0; {
		if len(p) < 16 {
			return errors.New("truncated record header")
		}
		incl := int(bo.Uint32(p[8:]))
		orig := int(bo.Uint32(p[12:]))
		if incl != orig {
			return errors.New("packet truncated by snaplen")
		}
		if len(p) < 16+incl {
			return errors.New("truncated packet")
		}
		pkt := p[16 : 16+incl]
		p = p[16+incl:]
		if len(pkt) < 14 {
			continue
		}
		et := binary.BigEndian.Uint16(pkt[12:])
		l3 := pkt[14:]
		var src, dst netip.Addr
		var l4 []byte
		switch et {
		case 0x0800:
			if len(l3) < 20 || l3[9] != 6 {
				continue
			}
			ihl := int(l3[0]&0x0f) * 4
			tot := int(binary.BigEndian.Uint16(l3[2:]))
			if tot > len(l3) || ihl > tot {
				return errors.New("bad IPv4 header")
			}
			src = netip.AddrFrom4([4]byte(l3[12:16]))
			dst = netip.AddrFrom4([4]byte(l3[16:20]))
			l4 = l3[ihl:tot]
		case 0x86dd:
			if len(l3) < 40 || l3[6] != 6 {
				continue
			}
			pl := int(binary.BigEndian.Uint16(l3[4:]))
			if 40+pl > len(l3) {
				return errors.New("bad IPv6 header")
			}
			src = netip.AddrFrom16([16]byte(l3[8:24]))
			dst = netip.AddrFrom16([16]byte(l3[24:40]))
			l4 = l3[40 : 40+pl]
		default:
			continue
		}
		if len(l4) < 20 {
			return errors.New("short TCP header")
		}
		off := int(l4[12]>>4) * 4
		if off > len(l4) {
			return errors.New("bad TCP data offset")
		}
		fn(netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:])),
			netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:])),
			binary.BigEndian.Uint32(l4[4:]), l4[13]&0x02 != 0, l4[off:])
	}
	return nil
}

// reassemble orders a flow's segments by sequence number, drops
// retransmitted bytes and fails on a gap (a lost capture packet).
func reassemble(f *flow) ([]byte, error) {
	if !f.haveSyn {
		return nil, errors.New("capture started after the SYN")
	}
	base := f.isn + 1
	sort.SliceStable(f.segs, func(i, j int) bool { return f.segs[i].seq-base < f.segs[j].seq-base })
	var buf []byte
	for _, s := range f.segs {
		off := int(s.seq - base)
		switch {
		case off > len(buf):
			return nil, fmt.Errorf("gap of %d bytes at offset %d", off-len(buf), len(buf))
		case off+len(s.data) <= len(buf):
			continue
		default:
			buf = append(buf, s.data[len(buf)-off:]...)
		}
	}
	return buf, nil
}

func split(b []byte) ([][]byte, error) {
	var msgs [][]byte
	for len(b) > 0 {
		if len(b) < 19 {
			// The capture stopped mid-message; keep the whole ones.
			break
		}
		if !bytes.Equal(b[:16], bytes.Repeat([]byte{0xff}, 16)) {
			return nil, fmt.Errorf("bad marker after %d messages", len(msgs))
		}
		l := int(binary.BigEndian.Uint16(b[16:]))
		if l < 19 {
			return nil, fmt.Errorf("bad length %d after %d messages", l, len(msgs))
		}
		if l > len(b) {
			break
		}
		msgs = append(msgs, b[:l])
		b = b[l:]
	}
	return msgs, nil
}

type caps struct {
	as4, extMsg bool
	asn         uint32
	addPath     map[string]uint8 // family -> send/receive bits
	enh         map[string]bool  // NLRI family that may carry an IPv6 next hop
}

func famName(afi uint16, safi uint8) string {
	switch {
	case afi == 1 && safi == 1:
		return "ipv4-unicast"
	case afi == 2 && safi == 1:
		return "ipv6-unicast"
	}
	return fmt.Sprintf("afi%d-safi%d", afi, safi)
}

func parseCaps(open []byte) caps {
	c := caps{addPath: map[string]uint8{}, enh: map[string]bool{}}
	c.asn = uint32(binary.BigEndian.Uint16(open[20:]))
	plen := int(open[28])
	params := open[29:]
	if plen <= len(params) {
		params = params[:plen]
	}
	for len(params) >= 2 {
		t, l := params[0], int(params[1])
		if 2+l > len(params) {
			break
		}
		v := params[2 : 2+l]
		params = params[2+l:]
		if t != 2 {
			continue
		}
		for len(v) >= 2 {
			code, cl := v[0], int(v[1])
			if 2+cl > len(v) {
				break
			}
			cv := v[2 : 2+cl]
			v = v[2+cl:]
			switch code {
			case 65:
				if len(cv) == 4 {
					c.as4 = true
					c.asn = binary.BigEndian.Uint32(cv)
				}
			case 6:
				c.extMsg = true
			case 69:
				for ; len(cv) >= 4; cv = cv[4:] {
					c.addPath[famName(binary.BigEndian.Uint16(cv), cv[2])] = cv[3]
				}
			case 5:
				for ; len(cv) >= 6; cv = cv[6:] {
					if binary.BigEndian.Uint16(cv[4:]) == 2 {
						c.enh[famName(binary.BigEndian.Uint16(cv), uint8(binary.BigEndian.Uint16(cv[2:])))] = true
					}
				}
			}
		}
	}
	return c
}

func keys[V any](m map[string]V, keep func(V) bool, also ...map[string]bool) string {
	var ks []string
	for k, v := range m {
		if keep(v) && (len(also) == 0 || also[0][k]) {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "-"
	}
	return strings.Join(ks, ",")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// write records the messages from sender to receiver. The options are the
// receiver's view: addpath lists the families the sender sends with path
// identifiers (RFC 7911 5: sender may send, receiver agreed to receive); enh
// lists the families both sides listed with an IPv6 next hop (RFC 8950 4).
func write(path, from, to string, vers map[string]string, sender, receiver caps, msgs [][]byte) error {
	ap := map[string]bool{}
	for f, bits := range sender.addPath {
		if bits&2 != 0 && receiver.addPath[f]&1 != 0 {
			ap[f] = true
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# from=%s/%s to=%s/%s as4=%d extmsg=%d addpath=%s enh=%s\n",
		from, vers[from], to, vers[to], b2i(sender.as4 && receiver.as4), b2i(sender.extMsg && receiver.extMsg),
		keys(ap, func(v bool) bool { return v }), keys(receiver.enh, func(v bool) bool { return v }, sender.enh))
	for _, m := range msgs {
		b.WriteString(hex.EncodeToString(m))
		b.WriteByte('\n')
	}
	fmt.Printf("%s: %d messages\n", path, len(msgs))
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
