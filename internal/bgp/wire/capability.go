package wire

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Capability codes (IANA "Capability Codes" registry).
const (
	CapMultiprotocol        uint8 = 1  // RFC 4760
	CapRouteRefresh         uint8 = 2  // RFC 2918
	CapExtendedNextHop      uint8 = 5  // RFC 8950
	CapExtendedMessage      uint8 = 6  // RFC 8654
	CapGracefulRestart      uint8 = 64 // RFC 4724
	CapAS4                  uint8 = 65 // RFC 6793
	CapAddPath              uint8 = 69 // RFC 7911
	CapEnhancedRouteRefresh uint8 = 70 // RFC 7313
	CapFQDN                 uint8 = 73 // draft-walton-bgp-hostname-capability
)

// AddPathFamily is one <AFI, SAFI, Send/Receive> tuple of the ADD-PATH
// capability (RFC 7911 4).
type AddPathFamily struct {
	Family Family
	Mode   AddPathMode
}

// ExtendedNextHop is one tuple of the Extended Next Hop Encoding
// capability (RFC 8950 3): NLRI of family NLRI may carry a next hop of
// address family NextHopAFI.
type ExtendedNextHop struct {
	NLRI       Family
	NextHopAFI AFI
}

// GracefulRestart is the Graceful Restart capability (RFC 4724 3, with the
// N bit of RFC 8538 2).
type GracefulRestart struct {
	// Restarting is the R bit: the sender has restarted.
	Restarting bool
	// Notification is the N bit: the sender handles NOTIFICATION messages
	// with graceful restart (RFC 8538).
	Notification bool
	// Time is the restart time in seconds; only 12 bits go on the wire.
	Time     uint16
	Families []GRFamily
}

// GRFamily is one family of the Graceful Restart capability.
type GRFamily struct {
	Family Family
	// ForwardingPreserved is the F bit.
	ForwardingPreserved bool
}

// FQDN is the hostname capability (draft-walton-bgp-hostname-capability):
// the sender's host and domain names, each at most 255 octets.
type FQDN struct {
	Host   string
	Domain string
}

// RawCapability is a capability this package does not decode, kept so it
// can be shown and sent back unchanged.
type RawCapability struct {
	Code  uint8
	Value []byte
}

// Capabilities is the decoded Capabilities optional parameter of an OPEN
// (RFC 5492). Instances of one code, in one parameter or in several, are
// merged: lists are concatenated without duplicates, and for single-valued
// capabilities (graceful restart header, FQDN) the last one wins.
//
// The 4-octet AS number itself lives in Open.AS: AS4 only says the
// capability is present, which is all negotiation needs, and keeping one
// copy of the number avoids two fields that could disagree.
type Capabilities struct {
	Multiprotocol        []Family
	RouteRefresh         bool
	EnhancedRouteRefresh bool
	AS4                  bool
	AddPath              []AddPathFamily
	ExtendedNextHop      []ExtendedNextHop
	GracefulRestart      *GracefulRestart
	ExtendedMessage      bool
	FQDN                 *FQDN
	// Unknown holds capabilities of other codes in the order received, and
	// an ADD-PATH capability with an invalid Send/Receive value, which RFC
	// 7911 4 says to treat as not understood.
	Unknown []RawCapability
}

// capError is the answer to a malformed capability. RFC 5492 defines no
// subcode for it, so it is the unspecific OPEN Message Error.
func capError(format string, args ...any) *Error {
	return &Error{
		Code: CodeOpenMessage, Subcode: SubUnspecific, Action: ActionSessionReset,
		Reason: fmt.Sprintf(format, args...),
	}
}

// parseCapabilities decodes a sequence of capability TLVs (RFC 5492 4)
// into c, merging with what c already holds.
func (c *Capabilities) parse(b []byte, as4 *uint32) *Error {
	for len(b) > 0 {
		if len(b) < 2 {
			return capError("capability header truncated: %d octet left", len(b))
		}
		code, l := b[0], int(b[1])
		if len(b) < 2+l {
			return capError("capability %d length %d exceeds the %d octets left", code, l, len(b)-2)
		}
		v := b[2 : 2+l]
		b = b[2+l:]
		if err := c.parseOne(code, v, as4); err != nil {
			return err
		}
	}
	return nil
}

func wantLen(code uint8, v []byte, n int) *Error {
	if len(v) != n {
		return capError("capability %d has length %d, want %d", code, len(v), n)
	}
	return nil
}

func (c *Capabilities) parseOne(code uint8, v []byte, as4 *uint32) *Error {
	switch code {
	case CapMultiprotocol:
		// RFC 4760 8: AFI(2), reserved(1), SAFI(1).
		if err := wantLen(code, v, 4); err != nil {
			return err
		}
		f := Family{AFI(binary.BigEndian.Uint16(v)), SAFI(v[3])}
		if !slices.Contains(c.Multiprotocol, f) {
			c.Multiprotocol = append(c.Multiprotocol, f)
		}
	case CapRouteRefresh:
		if err := wantLen(code, v, 0); err != nil {
			return err
		}
		c.RouteRefresh = true
	case CapEnhancedRouteRefresh:
		if err := wantLen(code, v, 0); err != nil {
			return err
		}
		c.EnhancedRouteRefresh = true
	case CapExtendedMessage:
		if err := wantLen(code, v, 0); err != nil {
			return err
		}
		c.ExtendedMessage = true
	case CapAS4:
		if err := wantLen(code, v, 4); err != nil {
			return err
		}
		c.AS4 = true
		*as4 = binary.BigEndian.Uint32(v)
	case CapExtendedNextHop:
		// RFC 8950 3: NLRI AFI(2), NLRI SAFI(2), Nexthop AFI(2), repeated.
		if len(v) == 0 || len(v)%6 != 0 {
			return capError("extended next hop capability length %d is not a positive multiple of 6", len(v))
		}
		for ; len(v) > 0; v = v[6:] {
			safi := binary.BigEndian.Uint16(v[2:])
			if safi > 0xff {
				// No SAFI is wider than an octet anywhere else in BGP;
				// the tuple cannot name a family we could ever negotiate.
				continue
			}
			e := ExtendedNextHop{
				NLRI:       Family{AFI(binary.BigEndian.Uint16(v)), SAFI(safi)},
				NextHopAFI: AFI(binary.BigEndian.Uint16(v[4:])),
			}
			if !slices.Contains(c.ExtendedNextHop, e) {
				c.ExtendedNextHop = append(c.ExtendedNextHop, e)
			}
		}
	case CapAddPath:
		// RFC 7911 4: AFI(2), SAFI(1), Send/Receive(1), repeated.
		if len(v) == 0 || len(v)%4 != 0 {
			return capError("add-path capability length %d is not a positive multiple of 4", len(v))
		}
		for i := 0; i < len(v); i += 4 {
			if m := AddPathMode(v[i+3]); m < AddPathReceive || m > AddPathBoth {
				c.Unknown = append(c.Unknown, RawCapability{Code: code, Value: slices.Clone(v)})
				return nil
			}
		}
		for ; len(v) > 0; v = v[4:] {
			a := AddPathFamily{Family{AFI(binary.BigEndian.Uint16(v)), SAFI(v[2])}, AddPathMode(v[3])}
			c.addAddPath(a)
		}
	case CapGracefulRestart:
		// RFC 4724 3: flags(4 bits) + time(12 bits), then AFI(2), SAFI(1),
		// flags(1) per family.
		if len(v) < 2 || (len(v)-2)%4 != 0 {
			return capError("graceful restart capability length %d is not 2 plus a multiple of 4", len(v))
		}
		g := c.GracefulRestart
		if g == nil {
			g = &GracefulRestart{}
			c.GracefulRestart = g
		}
		hdr := binary.BigEndian.Uint16(v)
		g.Restarting = hdr&0x8000 != 0
		g.Notification = hdr&0x4000 != 0
		g.Time = hdr & 0x0fff
		for v = v[2:]; len(v) > 0; v = v[4:] {
			gf := GRFamily{Family{AFI(binary.BigEndian.Uint16(v)), SAFI(v[2])}, v[3]&0x80 != 0}
			if i := slices.IndexFunc(g.Families, func(x GRFamily) bool { return x.Family == gf.Family }); i >= 0 {
				g.Families[i] = gf
			} else {
				g.Families = append(g.Families, gf)
			}
		}
	case CapFQDN:
		if len(v) < 1 || len(v) < 1+int(v[0])+1 {
			return capError("FQDN capability truncated")
		}
		hl := int(v[0])
		host := v[1 : 1+hl]
		rest := v[1+hl:]
		dl := int(rest[0])
		if len(rest) != 1+dl {
			return capError("FQDN capability domain length %d does not match the %d octets left", dl, len(rest)-1)
		}
		// One string for both names: the length octet between them is
		// skipped when slicing, and the OPEN costs one allocation less.
		all := string(v[1:])
		c.FQDN = &FQDN{Host: all[:len(host)], Domain: all[len(host)+1:]}
	default:
		c.Unknown = append(c.Unknown, RawCapability{Code: code, Value: slices.Clone(v)})
	}
	return nil
}

// addAddPath merges a into the list: a family named twice keeps the union
// of its directions.
func (c *Capabilities) addAddPath(a AddPathFamily) {
	for i := range c.AddPath {
		if c.AddPath[i].Family == a.Family {
			c.AddPath[i].Mode |= a.Mode
			return
		}
	}
	c.AddPath = append(c.AddPath, a)
}

// appendCap appends one capability TLV whose value is built by fn; it
// fails when the value outgrows the one-octet length.
func appendCap(dst []byte, code uint8, fn func([]byte) []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, code, 0)
	dst = fn(dst)
	l := len(dst) - start - 2
	if l > 255 {
		return dst[:start], fmt.Errorf("bgp: capability %d value of %d octets exceeds 255", code, l)
	}
	dst[start+1] = byte(l)
	return dst, nil
}

// appendCaps appends the capability TLVs of c (RFC 5492 4). as is the
// speaker's AS, sent in the 4-octet AS capability.
func (c *Capabilities) appendCaps(dst []byte, as uint32) ([]byte, error) {
	var err error
	// One TLV per family is what every implementation sends and accepts.
	for _, f := range c.Multiprotocol {
		dst = append(dst, CapMultiprotocol, 4)
		dst = binary.BigEndian.AppendUint16(dst, uint16(f.AFI))
		dst = append(dst, 0, byte(f.SAFI))
	}
	if c.RouteRefresh {
		dst = append(dst, CapRouteRefresh, 0)
	}
	if c.EnhancedRouteRefresh {
		dst = append(dst, CapEnhancedRouteRefresh, 0)
	}
	if len(c.ExtendedNextHop) > 0 {
		dst, err = appendCap(dst, CapExtendedNextHop, func(b []byte) []byte {
			for _, e := range c.ExtendedNextHop {
				b = binary.BigEndian.AppendUint16(b, uint16(e.NLRI.AFI))
				b = binary.BigEndian.AppendUint16(b, uint16(e.NLRI.SAFI))
				b = binary.BigEndian.AppendUint16(b, uint16(e.NextHopAFI))
			}
			return b
		})
		if err != nil {
			return dst, err
		}
	}
	if c.ExtendedMessage {
		dst = append(dst, CapExtendedMessage, 0)
	}
	if g := c.GracefulRestart; g != nil {
		if g.Time > 0x0fff {
			return dst, fmt.Errorf("bgp: graceful restart time %d exceeds 4095 s", g.Time)
		}
		dst, err = appendCap(dst, CapGracefulRestart, func(b []byte) []byte {
			hdr := g.Time
			if g.Restarting {
				hdr |= 0x8000
			}
			if g.Notification {
				hdr |= 0x4000
			}
			b = binary.BigEndian.AppendUint16(b, hdr)
			for _, f := range g.Families {
				b = binary.BigEndian.AppendUint16(b, uint16(f.Family.AFI))
				var fl byte
				if f.ForwardingPreserved {
					fl = 0x80
				}
				b = append(b, byte(f.Family.SAFI), fl)
			}
			return b
		})
		if err != nil {
			return dst, err
		}
	}
	if c.AS4 {
		dst = append(dst, CapAS4, 4)
		dst = binary.BigEndian.AppendUint32(dst, as)
	}
	if len(c.AddPath) > 0 {
		for _, a := range c.AddPath {
			if a.Mode < AddPathReceive || a.Mode > AddPathBoth {
				return dst, fmt.Errorf("bgp: add-path mode %d for %s is not 1, 2 or 3", a.Mode, a.Family)
			}
		}
		dst, err = appendCap(dst, CapAddPath, func(b []byte) []byte {
			for _, a := range c.AddPath {
				b = binary.BigEndian.AppendUint16(b, uint16(a.Family.AFI))
				b = append(b, byte(a.Family.SAFI), byte(a.Mode))
			}
			return b
		})
		if err != nil {
			return dst, err
		}
	}
	if f := c.FQDN; f != nil {
		if len(f.Host) > 255 || len(f.Domain) > 255 {
			return dst, fmt.Errorf("bgp: FQDN host or domain longer than 255 octets")
		}
		dst, err = appendCap(dst, CapFQDN, func(b []byte) []byte {
			b = append(b, byte(len(f.Host)))
			b = append(b, f.Host...)
			b = append(b, byte(len(f.Domain)))
			return append(b, f.Domain...)
		})
		if err != nil {
			return dst, err
		}
	}
	for _, u := range c.Unknown {
		dst, err = appendCap(dst, u.Code, func(b []byte) []byte { return append(b, u.Value...) })
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// Has reports whether c advertises family f, counting the IPv4 unicast
// that RFC 4760 8 implies when no Multiprotocol capability is sent.
func (c *Capabilities) Has(f Family) bool {
	if c == nil || len(c.Multiprotocol) == 0 {
		return f == IPv4Unicast
	}
	return slices.Contains(c.Multiprotocol, f)
}

// AddPathMode returns the add-path directions c advertises for f, 0 if none.
func (c *Capabilities) AddPathMode(f Family) AddPathMode {
	if c == nil {
		return 0
	}
	for _, a := range c.AddPath {
		if a.Family == f {
			return a.Mode
		}
	}
	return 0
}

// CommonFamilies returns the families both sides advertise, in local's
// order. A side that sends no Multiprotocol capability is taken to carry
// IPv4 unicast only (RFC 4760 8, RFC 4271), so two plain speakers share
// IPv4 unicast and a plain speaker shares IPv4 unicast with an MP speaker
// only if the latter lists it.
func CommonFamilies(local, remote *Capabilities) []Family {
	var lf []Family
	if local == nil || len(local.Multiprotocol) == 0 {
		lf = []Family{IPv4Unicast}
	} else {
		lf = local.Multiprotocol
	}
	var out []Family
	for _, f := range lf {
		if remote.Has(f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Negotiate computes the Options of a session from the capabilities we
// sent (local) and received (remote):
//   - AS4 and ExtendedMessage when both sides sent the capability (RFC
//     6793 4, RFC 8654 3);
//   - AddPathRecv[f] when we offered to receive and the peer to send for f,
//     AddPathSend[f] the other way round (RFC 7911 4);
//   - ExtendedNextHop[f] when both sides listed the same <NLRI family,
//     next-hop AFI> tuple (RFC 8950 4).
//
// Add-path and extended next hop are only enabled for families in
// CommonFamilies: a family not negotiated carries no NLRI to encode.
// Maps are nil when empty.
func Negotiate(local, remote *Capabilities) Options {
	var o Options
	if local == nil || remote == nil {
		return o
	}
	o.AS4 = local.AS4 && remote.AS4
	o.ExtendedMessage = local.ExtendedMessage && remote.ExtendedMessage
	for _, f := range CommonFamilies(local, remote) {
		lm, rm := local.AddPathMode(f), remote.AddPathMode(f)
		if lm&AddPathReceive != 0 && rm&AddPathSend != 0 {
			if o.AddPathRecv == nil {
				o.AddPathRecv = map[Family]bool{}
			}
			o.AddPathRecv[f] = true
		}
		if lm&AddPathSend != 0 && rm&AddPathReceive != 0 {
			if o.AddPathSend == nil {
				o.AddPathSend = map[Family]bool{}
			}
			o.AddPathSend[f] = true
		}
		for _, e := range local.ExtendedNextHop {
			if e.NLRI == f && slices.Contains(remote.ExtendedNextHop, e) {
				if o.ExtendedNextHop == nil {
					o.ExtendedNextHop = map[Family]bool{}
				}
				o.ExtendedNextHop[f] = true
			}
		}
	}
	return o
}
