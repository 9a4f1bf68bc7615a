package wire

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzCmpA compares any decoded message, UPDATEs included.
var fuzzCmpA = append([]cmp.Option{cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}, cmpOptsA...)

// seedMessagesA are whole messages from the unit tests and, when present,
// the first messages of each recorded session.
func seedMessagesA(f *testing.F) [][]byte {
	seeds := [][]byte{
		hexA(fullOpenHex),
		hexA(marker + "0013 04"),
		hexA(marker + "0017 05 0002 01 01"),
		hexA(marker + "001b 05 0001 00 01 01 0001 40"),
		hexA(marker + "0019 03 06 02 03 627965"),
		hexA(marker + "0017 03 01 02 0012"),
		hexA(marker + "0017 02 0000 0000"),
		hexA(marker + "0029 02 0000 000e 40010103 400200 4003040a000001 180a0000"),
		frameA(TypeOpen, openBodyA(4, 65000, 90, "10.0.0.1", []byte{255, 255, 0, 5, 2, 0, 2, 2, 0})),
	}
	files, _ := filepath.Glob("testdata/captures/*.hex")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		n := 0
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if n++; n > 4 {
				break
			}
			seeds = append(seeds, hexA(line))
		}
	}
	return seeds
}

// fuzzOptsA builds the receiving session's options from a flag octet and
// the options the sender of the same bytes would have used.
func fuzzOptsA(flags uint8) (recv, send *Options) {
	recv = &Options{AS4: flags&1 != 0, ExtendedMessage: flags&2 != 0}
	if flags&4 != 0 {
		recv.AddPathRecv = map[Family]bool{IPv4Unicast: true}
	}
	if flags&8 != 0 {
		if recv.AddPathRecv == nil {
			recv.AddPathRecv = map[Family]bool{}
		}
		recv.AddPathRecv[IPv6Unicast] = true
	}
	if flags&16 != 0 {
		recv.ExtendedNextHop = map[Family]bool{IPv4Unicast: true}
	}
	s := *recv
	s.AddPathSend, s.AddPathRecv = recv.AddPathRecv, nil
	return recv, &s
}

// roundTripA checks that a message Parse accepted encodes, and decodes
// back to an equal value.
func roundTripA(t *testing.T, m Message, recv, send *Options) {
	t.Helper()
	raw, err := Append(nil, m, send)
	if err != nil {
		t.Fatalf("Append(%+v) after a successful Parse: %v", m, err)
	}
	back, err := Parse(raw, recv)
	if err != nil {
		t.Fatalf("Parse(Append(m)) = %v\nm = %+v\nraw %x", err, m, raw)
	}
	if d := cmp.Diff(m, back, fuzzCmpA...); d != "" {
		t.Fatalf("round trip (-first +second):\n%s", d)
	}
}

func wantWireErrA(t *testing.T, err error) *Error {
	t.Helper()
	var we *Error
	if !errors.As(err, &we) {
		t.Fatalf("error %v is %T, not *Error", err, err)
	}
	return we
}

func FuzzSplit(f *testing.F) {
	for _, s := range seedMessagesA(f) {
		f.Add(s, uint8(0))
		f.Add(append(append([]byte{}, s...), s...), uint8(2))
		f.Add(s[:len(s)-1], uint8(0))
	}
	f.Fuzz(func(t *testing.T, buf []byte, flags uint8) {
		recv, _ := fuzzOptsA(flags)
		n, err := Split(buf, recv)
		if err != nil {
			if we := wantWireErrA(t, err); we.Code != CodeMessageHeader {
				t.Fatalf("Split error %d/%d is not a header error", we.Code, we.Subcode)
			}
			if n != 0 {
				t.Fatalf("Split = %d with error", n)
			}
			return
		}
		if n == 0 {
			return
		}
		if n < HeaderLen || n > len(buf) || n > recv.MaxLen() {
			t.Fatalf("Split = %d for %d octets", n, len(buf))
		}
		// The message alone splits the same, and Parse never fails on framing.
		if n2, err := Split(buf[:n], recv); n2 != n || err != nil {
			t.Fatalf("Split(first message) = %d, %v; want %d", n2, err, n)
		}
		if _, err := Parse(buf[:n], recv); err != nil {
			if we := wantWireErrA(t, err); we.Code == CodeMessageHeader && we.Subcode != SubBadMessageLength {
				t.Fatalf("Parse of a split message: %v", err)
			}
		}
	})
}

func FuzzParseOpen(f *testing.F) {
	for _, s := range seedMessagesA(f) {
		if MessageType(s[18]) == TypeOpen {
			f.Add(s[HeaderLen:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := ParseOpen(body)
		if err != nil {
			wantWireErrA(t, err)
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("ParseOpen accepted what Validate rejects: %v", err)
		}
		if HeaderLen+len(body) > MaxMessageLen {
			// Too long to frame; the parser alone was exercised.
			return
		}
		roundTripA(t, o, nil, nil)
	})
}

func FuzzParseNotification(f *testing.F) {
	f.Add([]byte{6, 2, 3, 'b', 'y', 'e'})
	f.Add([]byte{1, 2, 0, 18})
	f.Add([]byte{6, 4, 200, 0xff})
	f.Add([]byte{6, 9, 6, 2, 3, 'b', 'y', 'e'}) // Hard Reset (RFC 8538)
	f.Add([]byte{6, 9, 4})
	f.Add([]byte{6})
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if err != nil {
			wantWireErrA(t, err)
			return
		}
		_ = n.String()
		if inner, ok := n.HardResetCause(); ok {
			if back := HardResetNotification(inner); !cmp.Equal(back, n, cmpOptsA...) {
				t.Fatalf("HardResetNotification(HardResetCause(%+v)) = %+v", n, back)
			}
		}
		if msg, ok := n.ShutdownMessage(); ok {
			if s := ShutdownNotification(n.Subcode, msg); msg != "" && !cmp.Equal(s.Data, n.Data[:1+len(msg)]) {
				t.Fatalf("ShutdownNotification(%q) = %x, received %x", msg, s.Data, n.Data)
			}
		}
		if HeaderLen+len(body) > MaxExtendedLen {
			return
		}
		ext := &Options{ExtendedMessage: true}
		roundTripA(t, n, ext, ext)
	})
}

func FuzzParseRouteRefresh(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1})
	f.Add([]byte{0, 2, 1, 1})
	f.Add([]byte{0, 2, 2, 1, 0})
	f.Add([]byte{0, 1, 0, 1, 1, 0, 1, 0x40})
	f.Add([]byte{0, 1, 9, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRouteRefresh(body)
		if err != nil {
			we := wantWireErrA(t, err)
			switch {
			case we.Action == ActionIgnore && len(body) >= 3 && body[2] > RefreshEoRR:
			case we.Code == CodeRouteRefresh && we.Subcode == SubInvalidMessageLength && len(we.Data) == HeaderLen+len(body):
			default:
				t.Fatalf("unexpected error %v data %x", err, we.Data)
			}
			return
		}
		if HeaderLen+len(body) > MaxExtendedLen {
			return
		}
		roundTripA(t, r, nil, nil)
	})
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range seedMessagesA(f) {
		f.Add(s, uint8(0))
		f.Add(s, uint8(0xff))
	}
	f.Fuzz(func(t *testing.T, msg []byte, flags uint8) {
		recv, send := fuzzOptsA(flags)
		m, err := Parse(msg, recv)
		if err != nil {
			we := wantWireErrA(t, err)
			if m != nil && (we.Action != ActionTreatAsWithdraw && we.Action != ActionAttributeDiscard) {
				t.Fatalf("Parse returned %T with a %s error", m, we.Action)
			}
			return
		}
		if m == nil {
			t.Fatal("Parse returned neither message nor error")
		}
		if m.Type() != MessageType(msg[18]) {
			t.Fatalf("Parse returned %s for type %d", m.Type(), msg[18])
		}
		roundTripA(t, m, recv, send)
	})
}
