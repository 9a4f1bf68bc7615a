package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// frameA prefixes body with a BGP header of type t whose length field is
// computed (RFC 4271 4.1).
func frameA(t MessageType, body []byte) []byte {
	b := bytes.Repeat([]byte{0xff}, markerLen)
	b = binary.BigEndian.AppendUint16(b, uint16(HeaderLen+len(body)))
	b = append(b, byte(t))
	return append(b, body...)
}

// hexA decodes a hex string that may contain spaces and newlines.
func hexA(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// cmpOptsA compares decoded messages: netip.Addr by value, nil and empty
// slices alike.
var cmpOptsA = []cmp.Option{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmpopts.EquateEmpty(),
}

// wantErrA checks that err is a *Error with the given code, subcode, data
// and action.
func wantErrA(t *testing.T, err error, code, sub uint8, data []byte, act Action) {
	t.Helper()
	var we *Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T), want *Error %d/%d", err, err, code, sub)
	}
	if we.Code != code || we.Subcode != sub || !bytes.Equal(we.Data, data) || we.Action != act {
		t.Fatalf("error %d/%d data %x action %s (%s), want %d/%d data %x action %s",
			we.Code, we.Subcode, we.Data, we.Action, we.Reason, code, sub, data, act)
	}
}

var marker = "ffffffffffffffffffffffffffffffff"

func TestSplit(t *testing.T) {
	keepalive := hexA(marker + "0013 04")
	ext := &Options{ExtendedMessage: true}
	big := func(typ MessageType, n int) []byte { return frameA(typ, make([]byte, n-HeaderLen)) }
	tests := []struct {
		name string
		buf  []byte
		opts *Options
		n    int
		code uint8 // 0: no error
		sub  uint8
		data []byte
	}{
		{name: "empty buffer needs more", buf: nil},
		{name: "partial marker needs more", buf: hexA("ffffff")},
		// RFC 4271 6.1: a marker that is not all ones.
		{name: "bad marker byte seen early", buf: hexA("ffff00"), code: 1, sub: SubConnectionNotSynchronized},
		{name: "bad last marker byte", buf: hexA("ffffffffffffffffffffffffffffff7f 0013 04"), code: 1, sub: SubConnectionNotSynchronized},
		{name: "header without type needs more", buf: hexA(marker + "0013")},
		{name: "keepalive", buf: keepalive, n: 19},
		{name: "keepalive then more", buf: append(append([]byte{}, keepalive...), 0xff, 0xff), n: 19},
		{name: "partial body needs more", buf: hexA(marker + "0017 05 0001"), n: 0},
		{name: "route refresh", buf: hexA(marker + "0017 05 00010001"), n: 23},
		// RFC 4271 6.1: Bad Message Length carries the erroneous length field.
		{name: "length below header", buf: hexA(marker + "0012 04"), code: 1, sub: SubBadMessageLength, data: hexA("0012")},
		{name: "keepalive of 20", buf: hexA(marker + "0014 04 00"), code: 1, sub: SubBadMessageLength, data: hexA("0014")},
		// RFC 8654 4: KEEPALIVE never grows, even when extended is negotiated.
		{name: "keepalive of 20 extended", buf: hexA(marker + "0014 04 00"), opts: ext, code: 1, sub: SubBadMessageLength, data: hexA("0014")},
		{name: "open of 28", buf: hexA(marker + "001c 01"), code: 1, sub: SubBadMessageLength, data: hexA("001c")},
		{name: "update of 22", buf: hexA(marker + "0016 02"), code: 1, sub: SubBadMessageLength, data: hexA("0016")},
		{name: "notification of 20", buf: hexA(marker + "0014 03"), code: 1, sub: SubBadMessageLength, data: hexA("0014")},
		{name: "update of 4097", buf: hexA(marker + "1001 02"), code: 1, sub: SubBadMessageLength, data: hexA("1001")},
		{name: "update of 4097 extended needs more", buf: hexA(marker + "1001 02"), opts: ext},
		{name: "update of 4097 extended", buf: big(TypeUpdate, 4097), opts: ext, n: 4097},
		{name: "update of 4096", buf: big(TypeUpdate, 4096), n: 4096},
		// RFC 8654 4: OPEN is exempt from the extended length.
		{name: "open of 4097 extended", buf: hexA(marker + "1001 01"), opts: ext, code: 1, sub: SubBadMessageLength, data: hexA("1001")},
		{name: "notification of 4097", buf: hexA(marker + "1001 03"), code: 1, sub: SubBadMessageLength, data: hexA("1001")},
		{name: "notification of 65535 extended", buf: big(TypeNotification, 65535), opts: ext, n: 65535},
		{name: "route refresh of 4097", buf: hexA(marker + "1001 05"), code: 1, sub: SubBadMessageLength, data: hexA("1001")},
		{name: "route refresh of 4097 extended", buf: big(TypeRouteRefresh, 4097), opts: ext, n: 4097},
		// RFC 4271 6.1: Bad Message Type carries the type octet.
		{name: "type 0", buf: hexA(marker + "0013 00"), code: 1, sub: SubBadMessageType, data: hexA("00")},
		{name: "type 6", buf: hexA(marker + "0013 06"), code: 1, sub: SubBadMessageType, data: hexA("06")},
		{name: "type 255", buf: hexA(marker + "0020 ff"), code: 1, sub: SubBadMessageType, data: hexA("ff")},
		// RFC 4271 6.1 checks the length before the type.
		{name: "type 6 of 4097", buf: hexA(marker + "1001 06"), code: 1, sub: SubBadMessageLength, data: hexA("1001")},
		{name: "type 6 of 4097 extended", buf: hexA(marker + "1001 06"), opts: ext, code: 1, sub: SubBadMessageType, data: hexA("06")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Split(tt.buf, tt.opts)
			if tt.code != 0 {
				wantErrA(t, err, tt.code, tt.sub, tt.data, ActionSessionReset)
				return
			}
			if err != nil || n != tt.n {
				t.Fatalf("Split = %d, %v; want %d, nil", n, err, tt.n)
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	// Parse repeats Split's header checks and demands exactly one message.
	_, err := Parse(hexA(marker+"0014 04 00 00"), nil)
	wantErrA(t, err, 1, SubBadMessageLength, hexA("0014"), ActionSessionReset)
	_, err = Parse(hexA(marker+"0013 04 00"), nil)
	wantErrA(t, err, 1, SubBadMessageLength, hexA("0013"), ActionSessionReset)
	_, err = Parse(hexA("ffff"), nil)
	wantErrA(t, err, 1, SubBadMessageLength, hexA("0002"), ActionSessionReset)
	_, err = Parse(hexA("00"+marker[2:]+"0013 04"), nil)
	wantErrA(t, err, 1, SubConnectionNotSynchronized, nil, ActionSessionReset)
	_, err = Parse(hexA(marker+"0013 07"), nil)
	wantErrA(t, err, 1, SubBadMessageType, hexA("07"), ActionSessionReset)
}

func TestKeepalive(t *testing.T) {
	// RFC 4271 4.4: a KEEPALIVE is the header alone.
	raw := hexA(marker + "0013 04")
	m, err := Parse(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*Keepalive); !ok {
		t.Fatalf("Parse = %T, want *Keepalive", m)
	}
	out, err := Append([]byte{0xaa}, &Keepalive{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, append([]byte{0xaa}, raw...)) {
		t.Fatalf("Append = %x, want aa%x", out, raw)
	}
}

func TestAppendErrorsLeaveDst(t *testing.T) {
	dst := []byte{1, 2, 3}
	cases := []Message{
		nil,
		(*Open)(nil),
		&Open{AS: 70000, RouterID: netip.MustParseAddr("10.0.0.1")}, // needs AS4
		&Open{AS: 65000, RouterID: netip.MustParseAddr("2001:db8::1")},
		&Open{AS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), Caps: Capabilities{FQDN: &FQDN{Host: strings.Repeat("h", 256)}}},
		&Open{AS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), Caps: Capabilities{GracefulRestart: &GracefulRestart{Time: 4096}}},
		&Open{AS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), Caps: Capabilities{AddPath: []AddPathFamily{{IPv4Unicast, 4}}}},
		&Open{AS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), Caps: Capabilities{Unknown: []RawCapability{{Code: 200, Value: make([]byte, 256)}}}},
		// 4096 octets of unknown capabilities: an OPEN never exceeds 4096.
		&Open{AS: 65000, RouterID: netip.MustParseAddr("10.0.0.1"), Caps: Capabilities{Unknown: func() []RawCapability {
			var u []RawCapability
			for i := 0; i < 20; i++ {
				u = append(u, RawCapability{Code: 200, Value: make([]byte, 250)})
			}
			return u
		}()}},
	}
	for i, m := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			out, err := Append(dst, m, &Options{ExtendedMessage: true})
			if err == nil {
				t.Fatalf("Append(%+v) succeeded: %x", m, out)
			}
			if !bytes.Equal(out, []byte{1, 2, 3}) {
				t.Fatalf("Append changed dst to %x", out)
			}
		})
	}
}

// ExampleParse reads messages from a stream buffer with Split and decodes
// each with Parse.
func ExampleParse() {
	stream := hexA(marker + "0013 04" + marker + "0017 05 00020001")
	for len(stream) > 0 {
		n, err := Split(stream, nil)
		if err != nil || n == 0 {
			fmt.Println("split:", n, err)
			return
		}
		m, err := Parse(stream[:n], nil)
		if err != nil {
			fmt.Println("parse:", err)
			return
		}
		fmt.Printf("%s %+v\n", m.Type(), m)
		stream = stream[n:]
	}
	// Output:
	// KEEPALIVE &{}
	// ROUTE-REFRESH &{Family:ipv6-unicast Subtype:0}
}

func TestParseDispatchesUpdate(t *testing.T) {
	// RFC 4724 2: the IPv4 End-of-RIB is an UPDATE with nothing in it.
	raw := hexA(marker + "0017 02 0000 0000")
	m, err := Parse(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*Update); !ok {
		t.Fatalf("Parse = %T, want *Update", m)
	}
	out, err := Append(nil, m, nil)
	if err != nil || !bytes.Equal(out, raw) {
		t.Fatalf("Append = %x, %v; want %x", out, err, raw)
	}
	// RFC 7606 7.1: a bad ORIGIN value is treat-as-withdraw, and Parse
	// hands back the Update with the error so its prefixes can be withdrawn.
	raw = hexA(marker + "0029 02 0000 000e 40010103 400200 4003040a000001 180a0000")
	m, err = Parse(raw, nil)
	var we *Error
	if !errors.As(err, &we) || we.Action != ActionTreatAsWithdraw {
		t.Fatalf("Parse error = %v, want treat-as-withdraw", err)
	}
	if u, ok := m.(*Update); !ok || u == nil {
		t.Fatalf("Parse message = %#v, want the *Update", m)
	}
	// Fatal UPDATE errors come with a nil Message, not a typed nil.
	m, err = Parse(hexA(marker+"0017 02 0005 0000"), nil)
	if err == nil || m != nil {
		t.Fatalf("Parse = %#v, %v; want nil and an error", m, err)
	}
}
