package wire

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNotificationVectors(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want *Notification
		str  string
	}{
		// RFC 4271 4.5: code, subcode, data.
		{"hold timer expired", marker + "0015 03 04 00", &Notification{Code: 4}, "Hold Timer Expired/Unspecific"},
		{"cease admin shutdown", marker + "0015 03 06 02", &Notification{Code: 6, Subcode: 2}, "Cease/Administrative Shutdown"},
		{"bad message length with data", marker + "0017 03 01 02 0012", &Notification{Code: 1, Subcode: 2, Data: hexA("0012")}, "Message Header Error/Bad Message Length"},
		{"unsupported version", marker + "0017 03 02 01 0004", &Notification{Code: 2, Subcode: 1, Data: hexA("0004")}, "OPEN Message Error/Unsupported Version Number"},
		{"malformed as path", marker + "0015 03 03 0b", &Notification{Code: 3, Subcode: 11}, "UPDATE Message Error/Malformed AS_PATH"},
		{"fsm established", marker + "0015 03 05 03", &Notification{Code: 5, Subcode: 3}, "Neighbor Events Error/Receive Unexpected Message in Established State"},
		{"route refresh invalid length", marker + "0015 03 07 01", &Notification{Code: 7, Subcode: 1}, "ROUTE-REFRESH Message Error/Invalid Message Length"},
		{"hard reset", marker + "0015 03 06 09", &Notification{Code: 6, Subcode: 9}, "Cease/Hard Reset"},
		{"unknown subcode", marker + "0015 03 06 63", &Notification{Code: 6, Subcode: 99}, "Cease/Unknown Subcode 99"},
		{"unknown code", marker + "0015 03 09 01", &Notification{Code: 9, Subcode: 1}, "Unknown Error Code 9/Unknown Subcode 1"},
		{"code 0", marker + "0015 03 00 00", &Notification{}, "Unknown Error Code 0/Unspecific"},
		// RFC 9003 2: Cease/Administrative Shutdown with a 3-octet message.
		{"shutdown communication", marker + "0019 03 06 02 03 627965", &Notification{Code: 6, Subcode: 2, Data: hexA("03 627965")}, "Cease/Administrative Shutdown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := hexA(tt.raw)
			m, err := Parse(raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, m, cmpOptsA...); d != "" {
				t.Fatalf("Parse (-want +got):\n%s", d)
			}
			if s := m.(*Notification).String(); s != tt.str {
				t.Fatalf("String = %q, want %q", s, tt.str)
			}
			out, err := Append(nil, tt.want, nil)
			if err != nil || !bytes.Equal(out, raw) {
				t.Fatalf("Append = %x, %v; want %x", out, err, raw)
			}
		})
	}
}

func TestNotificationDataIsCopied(t *testing.T) {
	raw := hexA(marker + "0017 03 01 02 0012")
	m, _ := Parse(raw, nil)
	raw[len(raw)-1] = 0x99
	if d := m.(*Notification).Data; !bytes.Equal(d, hexA("0012")) {
		t.Fatalf("Data aliases the input: %x", d)
	}
}

func TestNotificationTruncatedToFit(t *testing.T) {
	n := &Notification{Code: CodeRouteRefresh, Subcode: SubInvalidMessageLength, Data: make([]byte, 5000)}
	out, err := Append(nil, n, nil)
	if err != nil || len(out) != MaxMessageLen {
		t.Fatalf("Append = %d octets, %v; want %d", len(out), err, MaxMessageLen)
	}
	// RFC 8654 4: a NOTIFICATION may be extended once negotiated.
	out, err = Append(nil, n, &Options{ExtendedMessage: true})
	if err != nil || len(out) != HeaderLen+2+5000 {
		t.Fatalf("Append extended = %d octets, %v", len(out), err)
	}
	if len(n.Data) != 5000 {
		t.Fatal("Append changed the notification")
	}
}

func TestShutdownCommunication(t *testing.T) {
	// RFC 9003 2: length octet then UTF-8, at most 255 octets.
	n := ShutdownNotification(SubAdminShutdown, "maintenance ✓")
	if want := append([]byte{15}, "maintenance ✓"...); !bytes.Equal(n.Data, want) {
		t.Fatalf("Data = %x, want %x", n.Data, want)
	}
	if msg, ok := n.ShutdownMessage(); !ok || msg != "maintenance ✓" {
		t.Fatalf("ShutdownMessage = %q, %v", msg, ok)
	}
	n = ShutdownNotification(SubAdminReset, "")
	if n.Data != nil || n.Code != CodeCease || n.Subcode != SubAdminReset {
		t.Fatalf("empty message: %+v", n)
	}
	if _, ok := n.ShutdownMessage(); ok {
		t.Fatal("ShutdownMessage ok without data")
	}
	// Other subcodes carry no communication.
	if n = ShutdownNotification(SubPeerDeconfigured, "bye"); n.Data != nil {
		t.Fatalf("peer de-configured has data %x", n.Data)
	}
	// 254 ASCII octets then a 3-octet rune: the rune would end at 257, so
	// the cut falls before it, at 254.
	long := strings.Repeat("a", 254) + "✓✓"
	n = ShutdownNotification(SubAdminShutdown, long)
	if n.Data[0] != 254 || len(n.Data) != 255 {
		t.Fatalf("truncated length %d, data %d octets", n.Data[0], len(n.Data))
	}
	if msg, ok := n.ShutdownMessage(); !ok || msg != strings.Repeat("a", 254) {
		t.Fatalf("ShutdownMessage = %q, %v", msg, ok)
	}
	n = ShutdownNotification(SubAdminShutdown, strings.Repeat("b", 300))
	if n.Data[0] != 255 || len(n.Data) != 256 {
		t.Fatalf("ASCII truncated length %d", n.Data[0])
	}

	// RFC 9003 2: a length beyond the data or invalid UTF-8 is ignored.
	for _, d := range [][]byte{hexA("05 6162"), hexA("02 ff fe")} {
		n := &Notification{Code: CodeCease, Subcode: SubAdminShutdown, Data: d}
		if msg, ok := n.ShutdownMessage(); ok {
			t.Errorf("ShutdownMessage(%x) = %q, true", d, msg)
		}
	}
	if msg, ok := (&Notification{Code: CodeCease, Subcode: SubAdminReset, Data: []byte{0}}).ShutdownMessage(); !ok || msg != "" {
		t.Fatalf("zero-length communication = %q, %v", msg, ok)
	}
	if _, ok := (&Notification{Code: CodeOpenMessage, Subcode: 2, Data: hexA("01 61")}).ShutdownMessage(); ok {
		t.Fatal("ShutdownMessage ok for an OPEN error")
	}
	if !(&Notification{Code: CodeCease, Subcode: SubHardReset}).HardReset() || (&Notification{Code: CodeCease, Subcode: 2}).HardReset() {
		t.Fatal("HardReset wrong")
	}
}

func TestErrorNotificationRoundTrip(t *testing.T) {
	// The answer to a malformed message encodes the NOTIFICATION the RFC
	// asks for: Bad Message Type carries the type (RFC 4271 6.1).
	_, err := Parse(hexA(marker+"0013 09"), nil)
	we := err.(*Error)
	out, aerr := Append(nil, we.Notification(), nil)
	if aerr != nil || !bytes.Equal(out, hexA(marker+"0016 03 01 03 09")) {
		t.Fatalf("Append = %x, %v", out, aerr)
	}
}

func TestHardReset(t *testing.T) {
	// RFC 8538 3: Cease/Hard Reset, data = inner code, subcode and data.
	inner := ShutdownNotification(SubAdminShutdown, "bye")
	hr := HardResetNotification(inner)
	raw, err := Append(nil, hr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := hexA(marker + "001b 03 06 09 06 02 03 627965"); !bytes.Equal(raw, want) {
		t.Fatalf("Append = %x, want %x", raw, want)
	}
	m, err := Parse(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := m.(*Notification)
	if !n.HardReset() || n.String() != "Cease/Hard Reset" {
		t.Fatalf("parsed %v", n)
	}
	got, ok := n.HardResetCause()
	if !ok {
		t.Fatal("HardResetCause not ok")
	}
	if d := cmp.Diff(inner, got, cmpOptsA...); d != "" {
		t.Fatalf("cause (-want +got):\n%s", d)
	}
	if msg, ok := got.ShutdownMessage(); !ok || msg != "bye" {
		t.Fatalf("inner ShutdownMessage = %q, %v", msg, ok)
	}
	if _, ok := (&Notification{Code: CodeCease, Subcode: SubHardReset}).HardResetCause(); ok {
		t.Fatal("HardResetCause ok without data")
	}
	if _, ok := (&Notification{Code: CodeCease, Subcode: SubHardReset, Data: []byte{6}}).HardResetCause(); ok {
		t.Fatal("HardResetCause ok without a subcode")
	}
	// Any NOTIFICATION may be wrapped, not only a Cease.
	hold := &Notification{Code: CodeHoldTimerExpired}
	if got, ok := HardResetNotification(hold).HardResetCause(); !ok || !cmp.Equal(got, hold, cmpOptsA...) {
		t.Fatalf("hold timer expired wrapped and back = %+v, %v", got, ok)
	}
	if _, ok := inner.HardResetCause(); ok {
		t.Fatal("HardResetCause ok for an Administrative Shutdown")
	}
}
