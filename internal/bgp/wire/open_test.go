package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fullOpenHex is an OPEN with every capability this package decodes, laid
// out by hand from the RFCs and in the order Append emits them.
var fullOpenHex = marker + "0059 01" + // header: length 89, type OPEN (RFC 4271 4.1)
	"04 fde8 00b4 0a000001" + // version 4, My AS 65000, hold 180, id 10.0.0.1 (RFC 4271 4.2)
	"3c 02 3a" + // opt params length 60; one Capabilities parameter of 58 (RFC 5492 4)
	"01 04 0001 00 01" + // multiprotocol ipv4 unicast (RFC 4760 8)
	"01 04 0002 00 01" + // multiprotocol ipv6 unicast
	"02 00" + // route refresh (RFC 2918 2)
	"46 00" + // enhanced route refresh (RFC 7313 4)
	"05 06 0001 0001 0002" + // extended next hop: ipv4 unicast over IPv6 (RFC 8950 3)
	"06 00" + // extended message (RFC 8654 3)
	"40 06 c078 0001 01 80" + // graceful restart: R and N bits, 120 s; ipv4 unicast F bit (RFC 4724 3, RFC 8538 2)
	"41 04 0000fde8" + // 4-octet AS 65000 (RFC 6793 3)
	"45 04 0001 01 03" + // add-path ipv4 unicast send+receive (RFC 7911 4)
	"49 0a 05 6c65616631 03 6c6162" // FQDN "leaf1" "lab" (draft-walton-bgp-hostname-capability 3)

var fullOpen = &Open{
	Version:  4,
	AS:       65000,
	HoldTime: 180,
	RouterID: netip.MustParseAddr("10.0.0.1"),
	Caps: Capabilities{
		Multiprotocol:        []Family{IPv4Unicast, IPv6Unicast},
		RouteRefresh:         true,
		EnhancedRouteRefresh: true,
		AS4:                  true,
		AddPath:              []AddPathFamily{{IPv4Unicast, AddPathBoth}},
		ExtendedNextHop:      []ExtendedNextHop{{IPv4Unicast, AFIIPv6}},
		GracefulRestart: &GracefulRestart{
			Restarting: true, Notification: true, Time: 120,
			Families: []GRFamily{{IPv4Unicast, true}},
		},
		ExtendedMessage: true,
		FQDN:            &FQDN{Host: "leaf1", Domain: "lab"},
	},
}

// openBodyA builds an OPEN body with the given fields and raw optional
// parameters (RFC 4271 4.2).
func openBodyA(version uint8, as, hold uint16, id string, params []byte) []byte {
	b := []byte{version}
	b = binary.BigEndian.AppendUint16(b, as)
	b = binary.BigEndian.AppendUint16(b, hold)
	a := netip.MustParseAddr(id).As4()
	b = append(b, a[:]...)
	b = append(b, byte(len(params)))
	return append(b, params...)
}

// capParamA wraps capability TLVs in one Capabilities optional parameter.
func capParamA(caps ...[]byte) []byte {
	var v []byte
	for _, c := range caps {
		v = append(v, c...)
	}
	return append([]byte{ParamCapabilities, byte(len(v))}, v...)
}

func TestOpenFull(t *testing.T) {
	raw := hexA(fullOpenHex)
	m, err := Parse(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fullOpen, m, cmpOptsA...); d != "" {
		t.Fatalf("Parse mismatch (-want +got):\n%s", d)
	}
	out, err := Append(nil, fullOpen, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, raw) {
		t.Fatalf("Append =\n%x\nwant\n%x", out, raw)
	}
}

func TestOpenAS4(t *testing.T) {
	// RFC 6793 4.1: an AS above 65535 goes in the capability, AS_TRANS
	// (23456 = 0x5ba0) in My AS.
	o := &Open{AS: 4200000000, HoldTime: 90, RouterID: netip.MustParseAddr("192.0.2.1"), Caps: Capabilities{AS4: true}}
	want := hexA(marker + "0025 01 04 5ba0 005a c0000201 08 02 06 41 04 fa56ea00")
	out, err := Append(nil, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("Append =\n%x\nwant\n%x", out, want)
	}
	m, err := Parse(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(*Open); got.AS != 4200000000 || !got.Caps.AS4 {
		t.Fatalf("Parse AS = %d AS4 %v", got.AS, got.Caps.AS4)
	}
	// No capability: My AS is the AS (RFC 4271 4.2); no optional parameters.
	m, err = Parse(frameA(TypeOpen, openBodyA(4, 65001, 0, "10.1.1.1", nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(*Open); got.AS != 65001 || got.Caps.AS4 || got.HoldTime != 0 {
		t.Fatalf("Parse = %+v", got)
	}
}

func TestOpenMergesCapabilities(t *testing.T) {
	// RFC 5492 4: capabilities may come in several parameters and a code
	// may repeat; they are merged.
	params := append(capParamA(hexA("01 04 0001 00 01"), hexA("45 04 0001 01 01")),
		capParamA(hexA("01 04 0002 00 01 01 04 0001 00 01"), hexA("45 08 0001 01 02 0002 01 01"),
			hexA("40 02 0078"), hexA("40 06 8078 0002 01 00"), hexA("c8 03 010203"), hexA("02 00"))...)
	m, err := Parse(frameA(TypeOpen, openBodyA(4, 65000, 9, "10.0.0.2", params)), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Open{Version: 4, AS: 65000, HoldTime: 9, RouterID: netip.MustParseAddr("10.0.0.2"), Caps: Capabilities{
		Multiprotocol:   []Family{IPv4Unicast, IPv6Unicast},
		AddPath:         []AddPathFamily{{IPv4Unicast, AddPathBoth}, {IPv6Unicast, AddPathReceive}},
		GracefulRestart: &GracefulRestart{Restarting: true, Time: 120, Families: []GRFamily{{IPv6Unicast, false}}},
		RouteRefresh:    true,
		Unknown:         []RawCapability{{Code: 200, Value: []byte{1, 2, 3}}},
	}}
	if d := cmp.Diff(want, m, cmpOptsA...); d != "" {
		t.Fatalf("mismatch (-want +got):\n%s", d)
	}
}

func TestOpenAddPathBadModeIsUnknown(t *testing.T) {
	// RFC 7911 4: a Send/Receive value other than 1-3 makes the capability
	// "not understood"; it is kept raw like any unknown capability.
	params := capParamA(hexA("45 08 0001 01 01 0002 01 04"))
	m, err := Parse(frameA(TypeOpen, openBodyA(4, 65000, 90, "10.0.0.2", params)), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := m.(*Open).Caps
	if len(c.AddPath) != 0 || len(c.Unknown) != 1 || c.Unknown[0].Code != CapAddPath {
		t.Fatalf("caps = %+v", c)
	}
}

func TestOpenExtendedOptionalParameters(t *testing.T) {
	// RFC 9072 2: Non-Ext OP Len 255, Non-Ext OP Type 255, Extended Opt.
	// Parm. Length (2 octets); each parameter then has a 2-octet length.
	caps := hexA("01 04 0001 00 01 02 00")
	params := []byte{255, 255, 0, byte(3 + len(caps)), ParamCapabilities, 0, byte(len(caps))}
	params = append(params, caps...)
	body := openBodyA(4, 65000, 90, "10.0.0.3", nil)
	body = append(body[:9], params...)
	m, err := Parse(frameA(TypeOpen, body), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := m.(*Open).Caps
	if !c.RouteRefresh || len(c.Multiprotocol) != 1 {
		t.Fatalf("caps = %+v", c)
	}

	// Appending more than 255 octets of capabilities selects the same form.
	o := &Open{Version: 4, AS: 65000, HoldTime: 90, RouterID: netip.MustParseAddr("10.0.0.3")}
	for i := 0; i < 3; i++ {
		o.Caps.Unknown = append(o.Caps.Unknown, RawCapability{Code: 200 + uint8(i), Value: bytes.Repeat([]byte{byte(i)}, 100)})
	}
	out, err := Append(nil, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 3 capabilities of 102 octets = 306; parameter 309; length 0x0135.
	if got, want := out[HeaderLen+9:HeaderLen+16], hexA("ff ff 0135 02 0132"); !bytes.Equal(got, want) {
		t.Fatalf("extended header = %x, want %x", got, want)
	}
	back, err := Parse(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(o, back, cmpOptsA...); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
}

func TestOpenErrors(t *testing.T) {
	ok := func(params []byte) []byte { return openBodyA(4, 65000, 90, "10.0.0.1", params) }
	tests := []struct {
		name string
		body []byte
		code uint8
		sub  uint8
		data []byte
	}{
		// RFC 4271 6.2: data is the largest supported version, 2 octets.
		{"version 3", openBodyA(3, 65000, 90, "10.0.0.1", nil), 2, SubUnsupportedVersion, hexA("0004")},
		{"version 5", openBodyA(5, 65000, 90, "10.0.0.1", nil), 2, SubUnsupportedVersion, hexA("0004")},
		// RFC 4271 6.2: hold time 1 or 2 is unacceptable.
		{"hold time 1", openBodyA(4, 65000, 1, "10.0.0.1", nil), 2, SubUnacceptableHoldTime, nil},
		{"hold time 2", openBodyA(4, 65000, 2, "10.0.0.1", nil), 2, SubUnacceptableHoldTime, nil},
		// RFC 6286 2.2: the identifier is any non-zero 4-octet value.
		{"identifier 0", openBodyA(4, 65000, 90, "0.0.0.0", nil), 2, SubBadBGPIdentifier, nil},
		// RFC 7607 2: AS 0 is Bad Peer AS, in My AS or the AS4 capability.
		{"my AS 0", openBodyA(4, 0, 90, "10.0.0.1", nil), 2, SubBadPeerAS, nil},
		{"AS4 0", ok(capParamA(hexA("41 04 00000000"))), 2, SubBadPeerAS, nil},
		// RFC 4271 6.2: optional parameters that are not understood.
		{"authentication parameter", ok(hexA("01 02 0000")), 2, SubUnsupportedOptionalParam, nil},
		{"parameter type 255 not first", ok(append(capParamA(hexA("02 00")), 0xff, 0)), 2, SubUnsupportedOptionalParam, nil},
		// Length inconsistencies: OPEN Message Error, unspecific.
		{"opt len beyond message", append(openBodyA(4, 65000, 90, "10.0.0.1", nil)[:9], 5, 2, 2, 2, 0), 2, SubUnspecific, nil},
		{"opt len short of message", append(openBodyA(4, 65000, 90, "10.0.0.1", nil)[:9], 2, 2, 0, 2), 2, SubUnspecific, nil},
		{"param length beyond", ok(hexA("02 05 0200")), 2, SubUnspecific, nil},
		{"param header truncated", ok(hexA("02")), 2, SubUnspecific, nil},
		{"extended length truncated", append(openBodyA(4, 65000, 90, "10.0.0.1", nil)[:9], 255, 255, 0), 2, SubUnspecific, nil},
		{"extended param truncated", append(openBodyA(4, 65000, 90, "10.0.0.1", nil)[:9], 255, 255, 0, 2, 2, 0), 2, SubUnspecific, nil},
		// RFC 5492 4: malformed capabilities.
		{"capability header truncated", ok(capParamA(hexA("02"))), 2, SubUnspecific, nil},
		{"capability length beyond", ok(capParamA(hexA("01 05 0001 00 01"))), 2, SubUnspecific, nil},
		{"multiprotocol length 3", ok(capParamA(hexA("01 03 0001 01"))), 2, SubUnspecific, nil},
		{"route refresh with value", ok(capParamA(hexA("02 01 00"))), 2, SubUnspecific, nil},
		{"enhanced route refresh with value", ok(capParamA(hexA("46 01 00"))), 2, SubUnspecific, nil},
		{"extended message with value", ok(capParamA(hexA("06 01 00"))), 2, SubUnspecific, nil},
		{"AS4 length 2", ok(capParamA(hexA("41 02 fde8"))), 2, SubUnspecific, nil},
		{"extended next hop length 4", ok(capParamA(hexA("05 04 0001 0001"))), 2, SubUnspecific, nil},
		{"extended next hop empty", ok(capParamA(hexA("05 00"))), 2, SubUnspecific, nil},
		{"add-path length 3", ok(capParamA(hexA("45 03 0001 01"))), 2, SubUnspecific, nil},
		{"graceful restart length 1", ok(capParamA(hexA("40 01 00"))), 2, SubUnspecific, nil},
		{"graceful restart length 5", ok(capParamA(hexA("40 05 0078 0001 01"))), 2, SubUnspecific, nil},
		{"FQDN empty", ok(capParamA(hexA("49 00"))), 2, SubUnspecific, nil},
		{"FQDN host beyond", ok(capParamA(hexA("49 03 05 6c65"))), 2, SubUnspecific, nil},
		{"FQDN domain beyond", ok(capParamA(hexA("49 04 01 6c 05 6c"))), 2, SubUnspecific, nil},
		{"FQDN trailing octet", ok(capParamA(hexA("49 04 01 6c 00 00"))), 2, SubUnspecific, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(frameA(TypeOpen, tt.body), nil)
			wantErrA(t, err, tt.code, tt.sub, tt.data, ActionSessionReset)
		})
	}
}

func TestOpenAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"hold time 0", openBodyA(4, 65000, 0, "10.0.0.1", nil)},
		{"hold time 3", openBodyA(4, 65000, 3, "10.0.0.1", nil)},
		// RFC 6286 2.2: any non-zero identifier, not only unicast hosts.
		{"identifier 223.255.255.255", openBodyA(4, 65000, 90, "223.255.255.255", nil)},
		{"identifier multicast", openBodyA(4, 65000, 90, "224.0.0.5", nil)},
		{"identifier class E", openBodyA(4, 65000, 90, "240.0.0.1", nil)},
		{"identifier 255.255.255.255", openBodyA(4, 65000, 90, "255.255.255.255", nil)},
		{"identifier 0.0.0.1", openBodyA(4, 65000, 90, "0.0.0.1", nil)},
		{"empty capabilities parameter", openBodyA(4, 65000, 90, "10.0.0.1", hexA("02 00"))},
		{"FQDN both empty", openBodyA(4, 65000, 90, "10.0.0.1", capParamA(hexA("49 02 00 00")))},
		{"extended next hop 2-octet SAFI skipped", openBodyA(4, 65000, 90, "10.0.0.1", capParamA(hexA("05 06 0001 0101 0002")))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(frameA(TypeOpen, tc.body), nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenValidate(t *testing.T) {
	// Validate works on an OPEN built locally, where Version 0 means 4.
	o := &Open{AS: 65000, HoldTime: 90, RouterID: netip.MustParseAddr("10.0.0.1")}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"224.0.0.5", "240.0.0.1", "255.255.255.255"} {
		o.RouterID = netip.MustParseAddr(id)
		if err := o.Validate(); err != nil {
			t.Errorf("Validate with identifier %s = %v, want nil (RFC 6286 2.2)", id, err)
		}
	}
	for _, id := range []netip.Addr{{}, netip.IPv4Unspecified(), netip.MustParseAddr("2001:db8::1")} {
		o.RouterID = id
		if err := o.Validate(); err == nil || err.Subcode != SubBadBGPIdentifier {
			t.Fatalf("Validate with identifier %v = %v, want Bad BGP Identifier", id, err)
		}
	}
}

func BenchmarkParseOpen(b *testing.B) {
	raw := hexA(fullOpenHex)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendOpen(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], fullOpen, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// captureA is one direction of a recorded session in testdata/captures:
// a header line of key=value fields, then one message per line in hex.
type captureA struct {
	fields map[string]string
	msgs   [][]byte
}

func loadCaptureA(t *testing.T, path string) captureA {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c := captureA{fields: map[string]string{}}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if h, ok := strings.CutPrefix(line, "# "); ok {
			for _, kv := range strings.Fields(h) {
				k, v, _ := strings.Cut(kv, "=")
				c.fields[k] = v
			}
			continue
		}
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		c.msgs = append(c.msgs, b)
	}
	return c
}

func familiesA(v string) map[Family]bool {
	m := map[Family]bool{}
	for _, f := range strings.Split(v, ",") {
		switch f {
		case "ipv4-unicast":
			m[IPv4Unicast] = true
		case "ipv6-unicast":
			m[IPv6Unicast] = true
		}
	}
	return m
}

// TestNegotiateCaptures decodes the OPENs FRR, BIRD and GoBGP really sent
// each other and checks that Negotiate agrees with what the daemons
// reported they negotiated (the header of each capture).
func TestNegotiateCaptures(t *testing.T) {
	files, err := filepath.Glob("testdata/captures/*.hex")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no captures in testdata/captures")
	}
	byName := map[string]captureA{}
	for _, f := range files {
		byName[strings.TrimSuffix(filepath.Base(f), ".hex")] = loadCaptureA(t, f)
	}
	for name, in := range byName {
		// pair-a2b: the reverse direction is pair-b2a.
		i := strings.LastIndex(name, "-")
		from, to, ok := strings.Cut(name[i+1:], "2")
		if !ok {
			t.Fatalf("capture name %q is not pair-from2to", name)
		}
		out, ok := byName[name[:i+1]+to+"2"+from]
		if !ok {
			t.Fatalf("capture %q has no reverse direction", name)
		}
		t.Run(name, func(t *testing.T) {
			open := func(c captureA) *Open {
				m, err := Parse(c.msgs[0], nil)
				if err != nil {
					t.Fatalf("first message: %v", err)
				}
				o, ok := m.(*Open)
				if !ok {
					t.Fatalf("first message is %T, want *Open", m)
				}
				// Every OPEN in the captures round-trips through Append.
				raw, err := Append(nil, o, nil)
				if err != nil {
					t.Fatal(err)
				}
				back, err := Parse(raw, nil)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(o, back, cmpOptsA...); d != "" {
					t.Fatalf("round trip (-want +got):\n%s", d)
				}
				return o
			}
			remote, local := open(in), open(out)
			got := Negotiate(&local.Caps, &remote.Caps)
			want := Options{
				AS4:             in.fields["as4"] == "1",
				ExtendedMessage: in.fields["extmsg"] == "1",
				AddPathRecv:     familiesA(in.fields["addpath"]),
				AddPathSend:     familiesA(out.fields["addpath"]),
				ExtendedNextHop: familiesA(in.fields["enh"]),
			}
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("Negotiate (-want +got):\n%s\nlocal %+v\nremote %+v", d, local.Caps, remote.Caps)
			}
			// The rest of the session splits and parses; UPDATE errors
			// are part B's to judge, framing errors are ours.
			for k, m := range in.msgs {
				n, err := Split(m, &got)
				if err != nil || n != len(m) {
					t.Fatalf("message %d: Split = %d, %v; want %d", k, n, err, len(m))
				}
			}
		})
	}
}
