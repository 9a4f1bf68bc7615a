package wire

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Update is an UPDATE message (RFC 4271 4.3). Withdrawn and NLRI are the
// classic IPv4 unicast fields; other families travel in Attrs.MPReach and
// Attrs.MPUnreach (RFC 4760). Attrs is nil when the message carries no
// attributes.
type Update struct {
	Withdrawn []NLRI
	Attrs     *PathAttrs
	NLRI      []NLRI
}

func (*Update) Type() MessageType { return TypeUpdate }

// EndOfRIB returns the End-of-RIB marker of a family (RFC 4724 2): an
// empty UPDATE for IPv4 unicast, an MP_UNREACH_NLRI with no prefixes for
// the others.
func EndOfRIB(f Family) *Update {
	if f == IPv4Unicast {
		return &Update{}
	}
	return &Update{Attrs: &PathAttrs{MPUnreach: &MPUnreach{Family: f}}}
}

// EndOfRIB reports whether u is an End-of-RIB marker and for which family.
func (u *Update) EndOfRIB() (Family, bool) {
	if len(u.Withdrawn) != 0 || len(u.NLRI) != 0 {
		return Family{}, false
	}
	if u.Attrs == nil {
		return IPv4Unicast, true
	}
	a := *u.Attrs
	un := a.MPUnreach
	a.MPUnreach = nil
	if un == nil || len(un.NLRI) != 0 || !a.empty() {
		return Family{}, false
	}
	return un.Family, true
}

// Reachable calls fn for every prefix u announces, classic and MP_REACH.
// Under treat-as-withdraw these are the prefixes to withdraw.
func (u *Update) Reachable(fn func(Family, NLRI)) {
	for _, n := range u.NLRI {
		fn(IPv4Unicast, n)
	}
	if u.Attrs != nil && u.Attrs.MPReach != nil {
		for _, n := range u.Attrs.MPReach.NLRI {
			fn(u.Attrs.MPReach.Family, n)
		}
	}
}

// Unreachable calls fn for every prefix u withdraws, classic and MP_UNREACH.
func (u *Update) Unreachable(fn func(Family, NLRI)) {
	for _, n := range u.Withdrawn {
		fn(IPv4Unicast, n)
	}
	if u.Attrs != nil && u.Attrs.MPUnreach != nil {
		for _, n := range u.Attrs.MPUnreach.NLRI {
			fn(u.Attrs.MPUnreach.Family, n)
		}
	}
}

// AppendBody encodes u without the header. It fails, leaving dst's
// contents unchanged, when u cannot be represented: a prefix of the wrong
// family, a field too long, a next hop the session cannot carry.
func (u *Update) AppendBody(dst []byte, opts *Options) ([]byte, error) {
	start := len(dst)
	ap := opts.addPathSend(IPv4Unicast)
	dst = append(dst, 0, 0)
	dst, err := appendNLRIList(dst, u.Withdrawn, AFIIPv4, ap)
	if err != nil {
		return dst[:start], err
	}
	wl := len(dst) - start - 2
	if wl > 0xffff {
		return dst[:start], fmt.Errorf("bgp: withdrawn routes of %d octets do not fit an UPDATE", wl)
	}
	binary.BigEndian.PutUint16(dst[start:], uint16(wl))
	as := len(dst)
	dst = append(dst, 0, 0)
	if u.Attrs != nil {
		if dst, err = u.Attrs.appendAttrs(dst, opts, encodeWire); err != nil {
			return dst[:start], err
		}
	}
	al := len(dst) - as - 2
	if al > 0xffff {
		return dst[:start], fmt.Errorf("bgp: path attributes of %d octets do not fit an UPDATE", al)
	}
	binary.BigEndian.PutUint16(dst[as:], uint16(al))
	if dst, err = appendNLRIList(dst, u.NLRI, AFIIPv4, ap); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// updateAlloc holds an Update and what a typical one points to, so that
// parsing a common UPDATE costs one allocation plus one per list too long
// for the inline buffers.
type updateAlloc struct {
	u       Update
	a       PathAttrs
	reach   MPReach
	unreach MPUnreach
	path    asPathBuf
	nlri    [2]NLRI
	nlriUse bool
	comms   [4]uint32
}

// nlriSlice returns room for n prefixes, from the inline buffer the first
// time it fits.
func (al *updateAlloc) nlriSlice(n int) []NLRI {
	if !al.nlriUse && n <= len(al.nlri) {
		al.nlriUse = true
		return al.nlri[:0:n]
	}
	return make([]NLRI, 0, n)
}

func (al *updateAlloc) parseNLRI(b []byte, afi AFI, addPath bool) ([]NLRI, error) {
	n, err := countNLRI(b, afi, addPath)
	if err != nil || n == 0 {
		return nil, err
	}
	return decodeNLRIInto(al.nlriSlice(n), b, afi, addPath), nil
}

// ParseUpdate decodes the body of an UPDATE (the message after its 19-octet
// header) with the revised error handling of RFC 7606. The result never
// aliases body.
//
// Errors are *Error. With ActionSessionReset the Update is nil. With
// ActionTreatAsWithdraw or ActionAttributeDiscard both are returned: for
// treat-as-withdraw every prefix the Update announces (Reachable) is to be
// withdrawn, and its Withdrawn/MP_UNREACH prefixes still are; for
// attribute-discard the offending attributes are already removed and the
// Update is used as usual. When several errors occur the most severe action
// is reported (RFC 7606 3).
func ParseUpdate(body []byte, opts *Options) (*Update, error) {
	if len(body) < 4 {
		return nil, &Error{
			Code: CodeMessageHeader, Subcode: SubBadMessageLength,
			Data:   binary.BigEndian.AppendUint16(nil, uint16(len(body)+HeaderLen)),
			Action: ActionSessionReset, Reason: fmt.Sprintf("UPDATE body of %d octets is too short", len(body)),
		}
	}
	wl := int(binary.BigEndian.Uint16(body))
	if 4+wl > len(body) {
		return nil, malformedList(fmt.Sprintf("withdrawn routes length %d overruns the message", wl))
	}
	tl := int(binary.BigEndian.Uint16(body[2+wl:]))
	if 4+wl+tl > len(body) {
		return nil, malformedList(fmt.Sprintf("total path attribute length %d overruns the message", tl))
	}
	al := new(updateAlloc)
	u := &al.u
	ap := opts.addPathRecv(IPv4Unicast)
	var err error
	if u.Withdrawn, err = al.parseNLRI(body[2:2+wl], AFIIPv4, ap); err != nil {
		return nil, invalidNetwork("withdrawn routes: " + err.Error())
	}
	if u.NLRI, err = al.parseNLRI(body[4+wl+tl:], AFIIPv4, ap); err != nil {
		return nil, invalidNetwork("NLRI: " + err.Error())
	}
	var acc errAcc
	if tl > 0 {
		parseAttrs(body[4+wl:4+wl+tl], opts, al, &acc)
		if acc.worst != nil && acc.worst.Action == ActionSessionReset {
			return nil, acc.worst
		}
		if !al.a.empty() {
			u.Attrs = &al.a
		}
	}
	checkMandatory(u, &acc)
	if acc.worst != nil {
		return u, acc.worst
	}
	return u, nil
}

func malformedList(reason string) *Error {
	return &Error{Code: CodeUpdateMessage, Subcode: SubMalformedAttributeList, Action: ActionSessionReset, Reason: reason}
}

// invalidNetwork is a syntax error in an NLRI field: RFC 7606 5.3 leaves
// only session reset, since the prefixes cannot be found to withdraw.
func invalidNetwork(reason string) *Error {
	return &Error{Code: CodeUpdateMessage, Subcode: SubInvalidNetworkField, Action: ActionSessionReset, Reason: reason}
}

// errAcc keeps the most severe error (RFC 7606 3); among equals the
// first, which names the original cause.
type errAcc struct{ worst *Error }

func (e *errAcc) add(x *Error) {
	if e.worst == nil || x.Action < e.worst.Action {
		e.worst = x
	}
}

// checkMandatory applies RFC 7606 3: a missing well-known mandatory
// attribute is treat-as-withdraw, and only matters when there is something
// to announce. NEXT_HOP is only mandatory with classic NLRI (RFC 4760 3).
func checkMandatory(u *Update, acc *errAcc) {
	a := u.Attrs
	hasMP := a != nil && a.MPReach != nil && len(a.MPReach.NLRI) > 0
	if len(u.NLRI) == 0 && !hasMP {
		return
	}
	missing := func(t uint8, name string) {
		acc.add(&Error{
			Code: CodeUpdateMessage, Subcode: SubMissingWellKnownAttr, Data: []byte{t},
			Action: ActionTreatAsWithdraw, AttrType: t, Reason: "missing well-known attribute " + name,
		})
	}
	if a == nil || !a.HasOrigin {
		missing(AttrOrigin, "ORIGIN")
	}
	if a == nil || !a.HasASPath {
		missing(AttrASPath, "AS_PATH")
	}
	if len(u.NLRI) > 0 && (a == nil || !a.NextHop.IsValid()) {
		missing(AttrNextHop, "NEXT_HOP")
	}
}

// attrRule is how an attribute's flags and length errors are handled.
type attrRule struct {
	flags  uint8 // expected Optional|Transitive bits
	action Action
	name   string
}

// attrRules lists the attributes we model and RFC 7606 7's action for each.
// A nil entry is an attribute we do not recognize.
var attrRules = [256]*attrRule{
	AttrOrigin:             {flagsWellKnown, ActionTreatAsWithdraw, "ORIGIN"},                       // 7.1
	AttrASPath:             {flagsWellKnown, ActionTreatAsWithdraw, "AS_PATH"},                      // 7.2
	AttrNextHop:            {flagsWellKnown, ActionTreatAsWithdraw, "NEXT_HOP"},                     // 7.3
	AttrMED:                {flagsOptNonTrans, ActionTreatAsWithdraw, "MULTI_EXIT_DISC"},            // 7.4
	AttrLocalPref:          {flagsWellKnown, ActionTreatAsWithdraw, "LOCAL_PREF"},                   // 7.5
	AttrAtomicAggregate:    {flagsWellKnown, ActionAttributeDiscard, "ATOMIC_AGGREGATE"},            // 7.6
	AttrAggregator:         {flagsOptTrans, ActionAttributeDiscard, "AGGREGATOR"},                   // 7.7
	AttrCommunities:        {flagsOptTrans, ActionTreatAsWithdraw, "COMMUNITIES"},                   // 7.8
	AttrOriginatorID:       {flagsOptNonTrans, ActionTreatAsWithdraw, "ORIGINATOR_ID"},              // 7.9
	AttrClusterList:        {flagsOptNonTrans, ActionTreatAsWithdraw, "CLUSTER_LIST"},               // 7.10
	AttrMPReach:            {flagsOptNonTrans, ActionSessionReset, "MP_REACH_NLRI"},                 // 7.11
	AttrMPUnreach:          {flagsOptNonTrans, ActionSessionReset, "MP_UNREACH_NLRI"},               // 7.12
	AttrExtCommunities:     {flagsOptTrans, ActionTreatAsWithdraw, "EXTENDED_COMMUNITIES"},          // 7.14
	AttrAS4Path:            {flagsOptTrans, ActionAttributeDiscard, "AS4_PATH"},                     // RFC 6793 6
	AttrAS4Aggregator:      {flagsOptTrans, ActionAttributeDiscard, "AS4_AGGREGATOR"},               // RFC 6793 6
	AttrIPv6ExtCommunities: {flagsOptTrans, ActionTreatAsWithdraw, "IPV6_ADDRESS_SPECIFIC_EXTCOMM"}, // 7.15
	AttrLargeCommunities:   {flagsOptTrans, ActionTreatAsWithdraw, "LARGE_COMMUNITY"},               // RFC 8092 6
	AttrOnlyToCustomer:     {flagsOptTrans, ActionTreatAsWithdraw, "OTC"},                           // RFC 9234 5
	AttrAttrSet:            {flagsOptTrans, ActionTreatAsWithdraw, "ATTR_SET"},                      // 7.16
}

// attrState carries what parseAttrs learns before it can be merged.
type attrState struct {
	as4Path    ASPath
	hasAS4Path bool
	as4Agg     Aggregator
	hasAS4Agg  bool
}

// parseAttrs decodes the path attributes into al.a, adding every error to
// acc. It stops at the first session reset.
func parseAttrs(b []byte, opts *Options, al *updateAlloc, acc *errAcc) {
	a := &al.a
	var seen [4]uint64
	var st attrState
	hasClassicNLRI := len(al.u.NLRI) > 0
	for len(b) > 0 {
		if len(b) < 3 || (b[0]&AttrFlagExtLen != 0 && len(b) < 4) {
			// RFC 7606 4: too few octets left for an attribute header;
			// the Total Attribute Length still locates the NLRI.
			acc.add(&Error{
				Code: CodeUpdateMessage, Subcode: SubMalformedAttributeList, Action: ActionTreatAsWithdraw,
				Reason: fmt.Sprintf("%d trailing octets cannot hold a path attribute", len(b)),
			})
			return
		}
		flags, typ := b[0], b[1]
		hl, vl := 3, int(b[2])
		if flags&AttrFlagExtLen != 0 {
			hl, vl = 4, int(binary.BigEndian.Uint16(b[2:]))
		}
		if len(b)-hl < vl {
			// RFC 7606 4: the attribute overruns the Total Attribute
			// Length. An MP attribute cut short hides prefixes we can
			// neither announce nor withdraw (RFC 7606 5.3).
			act := ActionTreatAsWithdraw
			if typ == AttrMPReach || typ == AttrMPUnreach {
				act = ActionSessionReset
			}
			acc.add(&Error{
				Code: CodeUpdateMessage, Subcode: SubAttributeLengthError, Data: append([]byte(nil), b...),
				Action: act, AttrType: typ,
				Reason: fmt.Sprintf("attribute %d of length %d overruns the path attributes", typ, vl),
			})
			return
		}
		raw, val := b[:hl+vl], b[hl:hl+vl]
		b = b[hl+vl:]
		if seen[typ/64]&(1<<(typ%64)) != 0 {
			// RFC 7606 3: only the first of a repeated attribute counts,
			// except that a repeated MP attribute is fatal.
			if typ == AttrMPReach || typ == AttrMPUnreach {
				acc.add(&Error{
					Code: CodeUpdateMessage, Subcode: SubMalformedAttributeList, Action: ActionSessionReset,
					AttrType: typ, Reason: fmt.Sprintf("attribute %d appears more than once", typ),
				})
				return
			}
			acc.add(&Error{
				Code: CodeUpdateMessage, Subcode: SubMalformedAttributeList, Action: ActionAttributeDiscard,
				AttrType: typ, Reason: fmt.Sprintf("duplicate attribute %d discarded", typ),
			})
			continue
		}
		seen[typ/64] |= 1 << (typ % 64)
		r := attrRules[typ]
		if r == nil {
			parseUnknown(a, flags, typ, raw, val, acc)
			if acc.worst != nil && acc.worst.Action == ActionSessionReset {
				return
			}
			continue
		}
		act := r.action
		if typ == AttrNextHop && !hasClassicNLRI {
			// NEXT_HOP only matters for classic NLRI; without any a bad
			// one is simply dropped.
			act = ActionAttributeDiscard
		}
		if flags&(AttrFlagOptional|AttrFlagTransitive) != r.flags ||
			flags&AttrFlagPartial != 0 && r.flags != flagsOptTrans {
			// RFC 7606 3: conflicting Optional/Transitive bits make the
			// attribute malformed, handled as its length errors are. A
			// Partial bit where RFC 4271 4.3 requires zero (well-known and
			// optional non-transitive attributes) is the same kind of
			// flags conflict (RFC 4271 6.3).
			acc.add(&Error{
				Code: CodeUpdateMessage, Subcode: SubAttributeFlagsError, Data: copyAttrBytes(raw),
				Action: act, AttrType: typ, Reason: fmt.Sprintf("%s has flags 0x%02x", r.name, flags),
			})
			if act == ActionSessionReset {
				return
			}
			continue
		}
		if e := parseKnown(a, &st, typ, flags, val, opts, al); e != nil {
			if e.Action == 0 {
				e.Action = act
			}
			if e.Data == nil && e.Subcode != SubMalformedASPath && e.Subcode != SubMalformedAttributeList {
				e.Data = copyAttrBytes(raw)
			}
			e.AttrType = typ
			if e.Reason == "" {
				e.Reason = fmt.Sprintf("%s with bad length %d", r.name, len(val))
			}
			acc.add(e)
			if e.Action == ActionSessionReset {
				return
			}
		}
	}
	if !opts.as4() {
		mergeAS4(a, &st)
	}
}

func copyAttrBytes(b []byte) []byte { return append([]byte(nil), b...) }

func lengthError() *Error {
	return &Error{Code: CodeUpdateMessage, Subcode: SubAttributeLengthError}
}

// mergeAS4 applies RFC 6793 4.2.3 on a session without 4-octet AS support.
func mergeAS4(a *PathAttrs, st *attrState) {
	if a.HasAggregator && a.Aggregator.AS != asTrans {
		// The aggregating speaker was OLD: AS4_PATH and AS4_AGGREGATOR
		// describe a path that no longer exists.
		return
	}
	if a.HasAggregator && st.hasAS4Agg {
		a.Aggregator = st.as4Agg
	}
	if a.HasASPath && st.hasAS4Path {
		a.ASPath = mergeAS4Path(a.ASPath, st.as4Path)
	}
}

// parseUnknown handles an attribute we do not model (RFC 4271 5, 6.3).
func parseUnknown(a *PathAttrs, flags, typ uint8, raw, val []byte, acc *errAcc) {
	if flags&AttrFlagOptional == 0 {
		acc.add(&Error{
			Code: CodeUpdateMessage, Subcode: SubUnrecognizedWellKnownAttr, Data: copyAttrBytes(raw),
			Action: ActionSessionReset, AttrType: typ, Reason: fmt.Sprintf("unrecognized well-known attribute %d", typ),
		})
		return
	}
	if flags&AttrFlagTransitive == 0 {
		return // quietly ignored, never propagated
	}
	a.Unknown = append(a.Unknown, RawAttr{Flags: flags&0xe0 | AttrFlagPartial, Type: typ, Value: copyAttrBytes(val)})
}

// parseKnown decodes one modelled attribute whose flags are right. An
// *Error with Action 0 takes the attribute's default action.
func parseKnown(a *PathAttrs, st *attrState, typ, flags uint8, val []byte, opts *Options, al *updateAlloc) *Error {
	as4 := opts.as4()
	switch typ {
	case AttrOrigin:
		if len(val) != 1 {
			return lengthError()
		}
		if val[0] > uint8(OriginIncomplete) {
			return &Error{Code: CodeUpdateMessage, Subcode: SubInvalidOriginAttr, Reason: fmt.Sprintf("undefined ORIGIN %d", val[0])}
		}
		a.Origin, a.HasOrigin = Origin(val[0]), true
	case AttrASPath:
		n := 2
		if as4 {
			n = 4
		}
		p, ok := parseASPath(val, n, &al.path)
		if !ok {
			return &Error{Code: CodeUpdateMessage, Subcode: SubMalformedASPath, Reason: "malformed AS_PATH"}
		}
		a.ASPath, a.HasASPath = p, true
	case AttrNextHop:
		if len(val) != 4 {
			return lengthError()
		}
		a.NextHop = netip.AddrFrom4([4]byte(val))
	case AttrMED:
		if len(val) != 4 {
			return lengthError()
		}
		a.MED, a.HasMED = binary.BigEndian.Uint32(val), true
	case AttrLocalPref:
		if len(val) != 4 {
			return lengthError()
		}
		a.LocalPref, a.HasLocalPref = binary.BigEndian.Uint32(val), true
	case AttrAtomicAggregate:
		if len(val) != 0 {
			return lengthError()
		}
		a.AtomicAggregate = true
	case AttrAggregator:
		want := 6
		if as4 {
			want = 8
		}
		if len(val) != want {
			return lengthError()
		}
		if as4 {
			a.Aggregator = Aggregator{AS: binary.BigEndian.Uint32(val), Addr: netip.AddrFrom4([4]byte(val[4:]))}
		} else {
			a.Aggregator = Aggregator{AS: uint32(binary.BigEndian.Uint16(val)), Addr: netip.AddrFrom4([4]byte(val[2:]))}
		}
		a.HasAggregator = true
	case AttrCommunities:
		if len(val)%4 != 0 {
			return lengthError()
		}
		if len(val) > 0 {
			var c []uint32
			if n := len(val) / 4; n <= len(al.comms) {
				c = al.comms[:n:n]
			} else {
				c = make([]uint32, n)
			}
			for i := range c {
				c[i] = binary.BigEndian.Uint32(val[4*i:])
			}
			a.Communities = c
		}
	case AttrOriginatorID:
		if len(val) != 4 {
			return lengthError()
		}
		a.OriginatorID = netip.AddrFrom4([4]byte(val))
	case AttrClusterList:
		if len(val)%4 != 0 {
			return lengthError()
		}
		if len(val) > 0 {
			c := make([]uint32, len(val)/4)
			for i := range c {
				c[i] = binary.BigEndian.Uint32(val[4*i:])
			}
			a.ClusterList = c
		}
	case AttrMPReach:
		return parseMPReach(a, val, opts, al)
	case AttrMPUnreach:
		return parseMPUnreach(a, val, opts, al)
	case AttrExtCommunities:
		if len(val)%8 != 0 {
			return lengthError()
		}
		if len(val) > 0 {
			c := make([]ExtCommunity, len(val)/8)
			for i := range c {
				c[i] = ExtCommunity(val[8*i:])
			}
			a.ExtCommunities = c
		}
	case AttrAS4Path:
		if as4 {
			// RFC 6793 3: a NEW speaker never sends it to a NEW speaker.
			return &Error{Code: CodeUpdateMessage, Subcode: SubOptionalAttributeError, Reason: "AS4_PATH received on a 4-octet AS session"}
		}
		p, ok := parseASPath(val, 4, nil)
		if !ok {
			return &Error{Code: CodeUpdateMessage, Subcode: SubOptionalAttributeError, Reason: "malformed AS4_PATH"}
		}
		for _, s := range p {
			if s.Type.isConfed() {
				return &Error{Code: CodeUpdateMessage, Subcode: SubOptionalAttributeError, Reason: "AS4_PATH carries confederation segments"}
			}
		}
		st.as4Path, st.hasAS4Path = p, true
	case AttrAS4Aggregator:
		if as4 {
			return &Error{Code: CodeUpdateMessage, Subcode: SubOptionalAttributeError, Reason: "AS4_AGGREGATOR received on a 4-octet AS session"}
		}
		if len(val) != 8 {
			return lengthError()
		}
		st.as4Agg = Aggregator{AS: binary.BigEndian.Uint32(val), Addr: netip.AddrFrom4([4]byte(val[4:]))}
		st.hasAS4Agg = true
	case AttrLargeCommunities:
		if len(val)%12 != 0 {
			return lengthError()
		}
		if len(val) > 0 {
			c := make([]LargeCommunity, len(val)/12)
			for i := range c {
				v := val[12*i:]
				c[i] = LargeCommunity{binary.BigEndian.Uint32(v), binary.BigEndian.Uint32(v[4:]), binary.BigEndian.Uint32(v[8:])}
			}
			a.LargeCommunities = c
		}
	case AttrOnlyToCustomer:
		if len(val) != 4 {
			return lengthError()
		}
		a.OnlyToCustomer, a.HasOTC = binary.BigEndian.Uint32(val), true
	case AttrIPv6ExtCommunities:
		if len(val)%20 != 0 {
			return lengthError()
		}
		a.Unknown = append(a.Unknown, RawAttr{Flags: flags & 0xe0, Type: typ, Value: copyAttrBytes(val)})
	case AttrAttrSet:
		if len(val) < 4 {
			return lengthError()
		}
		a.Unknown = append(a.Unknown, RawAttr{Flags: flags & 0xe0, Type: typ, Value: copyAttrBytes(val)})
	}
	return nil
}

func mpError(reason string) *Error {
	return &Error{Code: CodeUpdateMessage, Subcode: SubOptionalAttributeError, Action: ActionSessionReset, Reason: reason}
}

func supportedFamily(afi AFI, safi SAFI) bool {
	return safi == SAFIUnicast && (afi == AFIIPv4 || afi == AFIIPv6)
}

// parseMPReach decodes MP_REACH_NLRI (RFC 4760 3). Every structural
// error is a session reset (RFC 7606 7.11), a next hop of the wrong length
// included: the next hop precedes the NLRI, so once its length is in doubt
// the NLRI cannot be located reliably and there is nothing to withdraw.
func parseMPReach(a *PathAttrs, val []byte, opts *Options, al *updateAlloc) *Error {
	if len(val) < 5 {
		return mpError(fmt.Sprintf("MP_REACH_NLRI of %d octets is too short", len(val)))
	}
	afi, safi, nhl := AFI(binary.BigEndian.Uint16(val)), SAFI(val[2]), int(val[3])
	if len(val) < 5+nhl {
		return mpError(fmt.Sprintf("MP_REACH_NLRI next hop length %d overruns the attribute", nhl))
	}
	f := Family{afi, safi}
	if !supportedFamily(afi, safi) {
		// We never negotiate other families, so the peer broke the
		// capability exchange; drop what we cannot read.
		return &Error{Code: CodeUpdateMessage, Subcode: SubOptionalAttributeError, Action: ActionAttributeDiscard,
			Reason: fmt.Sprintf("MP_REACH_NLRI for unsupported family %s", f)}
	}
	nh := val[4 : 4+nhl]
	r := &al.reach
	r.Family = f
	switch {
	case afi == AFIIPv4 && nhl == 4:
		r.NextHop = netip.AddrFrom4([4]byte(nh))
	case (afi == AFIIPv6 || opts != nil && opts.ExtendedNextHop[f]) && (nhl == 16 || nhl == 32):
		r.NextHop = netip.AddrFrom16([16]byte(nh))
		if nhl == 32 {
			r.LinkLocalNextHop = netip.AddrFrom16([16]byte(nh[16:]))
		}
	default:
		// IPv4 with a 16 or 32 octet next hop lands here too when RFC 8950
		// extended next hop was not negotiated for the family.
		return mpError(fmt.Sprintf("MP_REACH_NLRI next hop length %d is invalid for %s", nhl, f))
	}
	nlri, err := al.parseNLRI(val[5+nhl:], afi, opts.addPathRecv(f))
	if err != nil {
		return mpError("MP_REACH_NLRI: " + err.Error())
	}
	r.NLRI = nlri
	a.MPReach = r
	return nil
}

// parseMPUnreach decodes MP_UNREACH_NLRI (RFC 4760 4, RFC 7606 7.12).
func parseMPUnreach(a *PathAttrs, val []byte, opts *Options, al *updateAlloc) *Error {
	if len(val) < 3 {
		return mpError(fmt.Sprintf("MP_UNREACH_NLRI of %d octets is too short", len(val)))
	}
	afi, safi := AFI(binary.BigEndian.Uint16(val)), SAFI(val[2])
	f := Family{afi, safi}
	if !supportedFamily(afi, safi) {
		return &Error{Code: CodeUpdateMessage, Subcode: SubOptionalAttributeError, Action: ActionAttributeDiscard,
			Reason: fmt.Sprintf("MP_UNREACH_NLRI for unsupported family %s", f)}
	}
	nlri, err := al.parseNLRI(val[3:], afi, opts.addPathRecv(f))
	if err != nil {
		return mpError("MP_UNREACH_NLRI: " + err.Error())
	}
	al.unreach = MPUnreach{Family: f, NLRI: nlri}
	a.MPUnreach = &al.unreach
	return nil
}
