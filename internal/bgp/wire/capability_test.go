package wire

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestCommonFamilies(t *testing.T) {
	v4v6 := &Capabilities{Multiprotocol: []Family{IPv4Unicast, IPv6Unicast}}
	v6 := &Capabilities{Multiprotocol: []Family{IPv6Unicast}}
	plain := &Capabilities{}
	tests := []struct {
		name          string
		local, remote *Capabilities
		want          []Family
	}{
		// RFC 4760 8 / RFC 4271: no MP capability means IPv4 unicast.
		{"both plain", plain, plain, []Family{IPv4Unicast}},
		{"nil caps", nil, nil, []Family{IPv4Unicast}},
		{"plain and v4v6", plain, v4v6, []Family{IPv4Unicast}},
		{"v4v6 and plain", v4v6, plain, []Family{IPv4Unicast}},
		{"v6 and plain", v6, plain, nil},
		{"v4v6 and v6", v4v6, v6, []Family{IPv6Unicast}},
		{"v4v6 both", v4v6, v4v6, []Family{IPv4Unicast, IPv6Unicast}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, CommonFamilies(tt.local, tt.remote)); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	v4v6 := []Family{IPv4Unicast, IPv6Unicast}
	enh := []ExtendedNextHop{{IPv4Unicast, AFIIPv6}}
	tests := []struct {
		name          string
		local, remote Capabilities
		want          Options
	}{
		{"nothing", Capabilities{}, Capabilities{}, Options{}},
		// RFC 6793 4, RFC 8654 3: both must send the capability.
		{"AS4 one side", Capabilities{AS4: true}, Capabilities{}, Options{}},
		{"AS4 and extended both", Capabilities{AS4: true, ExtendedMessage: true}, Capabilities{AS4: true, ExtendedMessage: true}, Options{AS4: true, ExtendedMessage: true}},
		{"extended one side", Capabilities{ExtendedMessage: true}, Capabilities{AS4: true}, Options{}},
		// RFC 7911 4: we receive when we said receive and the peer said send.
		{"add-path receive", Capabilities{AddPath: []AddPathFamily{{IPv4Unicast, AddPathReceive}}},
			Capabilities{AddPath: []AddPathFamily{{IPv4Unicast, AddPathBoth}}},
			Options{AddPathRecv: map[Family]bool{IPv4Unicast: true}}},
		{"add-path send", Capabilities{AddPath: []AddPathFamily{{IPv4Unicast, AddPathBoth}}},
			Capabilities{AddPath: []AddPathFamily{{IPv4Unicast, AddPathReceive}}},
			Options{AddPathSend: map[Family]bool{IPv4Unicast: true}}},
		{"add-path both ways", Capabilities{Multiprotocol: v4v6, AddPath: []AddPathFamily{{IPv6Unicast, AddPathBoth}}},
			Capabilities{Multiprotocol: v4v6, AddPath: []AddPathFamily{{IPv6Unicast, AddPathBoth}}},
			Options{AddPathRecv: map[Family]bool{IPv6Unicast: true}, AddPathSend: map[Family]bool{IPv6Unicast: true}}},
		{"add-path same direction", Capabilities{AddPath: []AddPathFamily{{IPv4Unicast, AddPathSend}}},
			Capabilities{AddPath: []AddPathFamily{{IPv4Unicast, AddPathSend}}}, Options{}},
		{"add-path family not common", Capabilities{Multiprotocol: v4v6, AddPath: []AddPathFamily{{IPv6Unicast, AddPathBoth}}},
			Capabilities{AddPath: []AddPathFamily{{IPv6Unicast, AddPathBoth}}}, Options{}},
		// RFC 8950 4: both list the tuple.
		{"extended next hop", Capabilities{ExtendedNextHop: enh}, Capabilities{ExtendedNextHop: enh},
			Options{ExtendedNextHop: map[Family]bool{IPv4Unicast: true}}},
		{"extended next hop one side", Capabilities{ExtendedNextHop: enh}, Capabilities{}, Options{}},
		{"extended next hop other afi", Capabilities{ExtendedNextHop: enh}, Capabilities{ExtendedNextHop: []ExtendedNextHop{{IPv4Unicast, 25}}}, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Negotiate(&tt.local, &tt.remote)
			if d := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
	if d := cmp.Diff(Options{}, Negotiate(nil, &Capabilities{AS4: true})); d != "" {
		t.Fatalf("nil local: %s", d)
	}
}

func TestCapabilitiesHelpers(t *testing.T) {
	c := &Capabilities{Multiprotocol: []Family{IPv6Unicast}, AddPath: []AddPathFamily{{IPv6Unicast, AddPathSend}}}
	if c.Has(IPv4Unicast) || !c.Has(IPv6Unicast) || !(&Capabilities{}).Has(IPv4Unicast) {
		t.Fatal("Has wrong")
	}
	if c.AddPathMode(IPv6Unicast) != AddPathSend || c.AddPathMode(IPv4Unicast) != 0 {
		t.Fatal("AddPathMode wrong")
	}
}
