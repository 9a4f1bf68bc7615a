package policy

import (
	"fmt"

	"github.com/closnet/clos/internal/bgp/wire"
)

// IsPrivateASN reports whether asn is in a private-use range (RFC 6996 5:
// 64512-65534 and 4200000000-4294967294).
func IsPrivateASN(asn uint32) bool {
	return asn >= 64512 && asn <= 65534 || asn >= 4200000000 && asn <= 4294967294
}

// RemovePrivateAS applies a neighbor's remove-private-as mode to a path about
// to be sent, as a border router does towards the WAN (RFC 7938 7.2.4):
// "all" drops every private ASN from AS_SEQUENCE and AS_SET segments and then
// any segment left empty; "replace" puts localAS in place of each of them, so
// the path length and thus best-path selection downstream are unchanged;
// "none" and "" leave the path alone. Confederation segments stay, as they
// are removed at the confederation boundary anyway. p is never modified, and
// when nothing changes p itself is returned.
func RemovePrivateAS(p wire.ASPath, mode string, localAS uint32) (wire.ASPath, error) {
	switch mode {
	case "", "none":
		return p, nil
	case "all", "replace":
	default:
		return p, fmt.Errorf("remove-private-as %q; valid: none, all, replace", mode)
	}
	found := false
	for _, s := range p {
		if s.Type != wire.ASSequence && s.Type != wire.ASSet {
			continue
		}
		for _, a := range s.ASNs {
			found = found || IsPrivateASN(a)
		}
	}
	if !found {
		return p, nil
	}
	out := make(wire.ASPath, 0, len(p))
	for _, s := range p {
		if s.Type != wire.ASSequence && s.Type != wire.ASSet {
			out = append(out, s)
			continue
		}
		asns := make([]uint32, 0, len(s.ASNs))
		for _, a := range s.ASNs {
			switch {
			case !IsPrivateASN(a):
				asns = append(asns, a)
			case mode == "replace":
				asns = append(asns, localAS)
			}
		}
		if len(asns) > 0 {
			out = append(out, wire.ASPathSegment{Type: s.Type, ASNs: asns})
		}
	}
	return out, nil
}
