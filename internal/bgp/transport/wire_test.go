package transport

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/closnet/clos/internal/bgp/wire"
)

func wireSplit(opts *wire.Options) SplitFunc {
	return func(b []byte) (int, error) { return wire.Split(b, opts) }
}

// TestReaderWithWireSplit frames real messages, as the daemon will, from
// reads of random sizes, including a 65535-byte extended UPDATE.
func TestReaderWithWireSplit(t *testing.T) {
	opts := &wire.Options{ExtendedMessage: true}
	var stream []byte
	var want [][]byte
	add := func(m wire.Message) {
		b, err := wire.Append(nil, m, opts)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
		stream = append(stream, b...)
	}
	for i := range 50 {
		add(&wire.Keepalive{})
		add(&wire.RouteRefresh{Family: wire.IPv6Unicast})
		add(&wire.Notification{Code: wire.CodeCease, Subcode: wire.SubAdminShutdown, Data: bytes.Repeat([]byte{'x'}, i)})
	}
	// The largest message a session with extended messages can carry.
	big := append(header(wire.TypeUpdate, wire.MaxExtendedLen-19), make([]byte, wire.MaxExtendedLen-19)...)
	big[19+1] = 0 // withdrawn length 0 ...
	want = append(want, big)
	stream = append(stream, big...)
	add(&wire.Keepalive{})

	r := NewReader(&chunkReader{data: stream, rng: rand.New(rand.NewPCG(7, 7)), max: 9000}, wireSplit(opts), MaxBuffer)
	for i, w := range want {
		got, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("message %d differs (len %d, want %d)", i, len(got), len(w))
		}
		if _, err := wire.Parse(got, opts); err != nil && i < len(want)-2 {
			t.Fatalf("message %d does not parse: %v", i, err)
		}
	}
}

// TestReaderReportsHeaderError hands the parser's *wire.Error through, so
// the session can send the NOTIFICATION it names.
func TestReaderReportsHeaderError(t *testing.T) {
	ka, _ := wire.Append(nil, &wire.Keepalive{}, nil)
	bad := append([]byte(nil), ka...)
	bad[3] = 0
	r := NewReader(bytes.NewReader(append(ka, bad...)), wireSplit(nil), MaxBuffer)
	if _, err := r.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	_, err := r.ReadMessage()
	var werr *wire.Error
	if !errors.As(err, &werr) || werr.Code != wire.CodeMessageHeader || werr.Subcode != wire.SubConnectionNotSynchronized {
		t.Fatalf("got %v, want Connection Not Synchronized", err)
	}
}

func header(t wire.MessageType, bodyLen int) []byte {
	b := bytes.Repeat([]byte{0xff}, 16)
	b = append(b, byte((19+bodyLen)>>8), byte(19+bodyLen))
	return append(b, byte(t))
}

// FuzzReader feeds arbitrary streams in arbitrary chunks: every message
// returned is one wire.Split accepts whole, and the messages plus what is
// left are a prefix of the input.
func FuzzReader(f *testing.F) {
	ka, _ := wire.Append(nil, &wire.Keepalive{}, nil)
	f.Add(append(ka, ka...), uint64(1))
	f.Add(ka[:10], uint64(2))
	f.Add(append(ka, 0xff, 0xff), uint64(3))
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		r := NewReader(&chunkReader{data: data, rng: rand.New(rand.NewPCG(seed, 1)), max: 64}, wireSplit(nil), 4096)
		var got []byte
		for range len(data) + 1 {
			m, err := r.ReadMessage()
			if err != nil {
				break
			}
			if n, err := wire.Split(m, nil); err != nil || n != len(m) {
				t.Fatalf("returned a message Split does not accept whole: %d, %v", n, err)
			}
			got = append(got, m...)
		}
		if !bytes.HasPrefix(data, got) {
			t.Fatal("messages are not a prefix of the stream")
		}
	})
}
