package wire

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRouteRefreshVectors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want *RouteRefresh
	}{
		// RFC 2918 3: AFI(2), reserved(1), SAFI(1).
		{"ipv4 unicast request", marker + "0017 05 0001 00 01", &RouteRefresh{IPv4Unicast, RefreshNormal}},
		// RFC 7313 3: the reserved octet is the subtype.
		{"ipv6 BoRR", marker + "0017 05 0002 01 01", &RouteRefresh{IPv6Unicast, RefreshBoRR}},
		{"ipv6 EoRR", marker + "0017 05 0002 02 01", &RouteRefresh{IPv6Unicast, RefreshEoRR}},
		{"other family", marker + "0017 05 0019 00 46", &RouteRefresh{Family{25, 70}, RefreshNormal}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := hexA(tt.raw)
			m, err := Parse(raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, m); d != "" {
				t.Fatalf("Parse (-want +got):\n%s", d)
			}
			out, err := Append(nil, tt.want, nil)
			if err != nil || !bytes.Equal(out, raw) {
				t.Fatalf("Append = %x, %v; want %x", out, err, raw)
			}
		})
	}
}

func TestRouteRefreshErrors(t *testing.T) {
	// RFC 7313 5: a BoRR/EoRR body that is not 4 octets is Invalid Message
	// Length, with the whole message as data.
	for _, raw := range []string{
		marker + "0016 05 0001 01",
		marker + "0013 05",
		marker + "0018 05 0001 01 01 00",
		marker + "0018 05 0001 02 01 00",
		marker + "0016 05 0001 00",
	} {
		msg := hexA(raw)
		_, err := Parse(msg, nil)
		wantErrA(t, err, CodeRouteRefresh, SubInvalidMessageLength, msg, ActionSessionReset)
	}
	// RFC 7313 5: an unknown subtype is ignored, whatever the length.
	for _, raw := range []string{marker + "0017 05 0001 03 01", marker + "0017 05 0001 ff 01", marker + "0019 05 0001 03 01 0000", marker + "0016 05 0001 07"} {
		_, err := Parse(hexA(raw), nil)
		wantErrA(t, err, CodeRouteRefresh, SubUnspecific, nil, ActionIgnore)
	}
	// RFC 5291: ORF entries after a request are skipped, not an error.
	m, err := Parse(hexA(marker+"001b 05 0001 00 01 01 0001 40"), nil)
	if err != nil || *m.(*RouteRefresh) != (RouteRefresh{IPv4Unicast, RefreshNormal}) {
		t.Fatalf("Parse with ORF = %+v, %v", m, err)
	}
}
