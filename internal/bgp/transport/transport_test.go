package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// testSplit frames BGP messages by the header length field; the wire
// package owns the full header checks.
func testSplit(buf []byte) (int, error) {
	if len(buf) < 19 {
		return 0, nil
	}
	n := int(binary.BigEndian.Uint16(buf[16:18]))
	if n < 19 {
		return 0, errors.New("bad length")
	}
	if len(buf) < n {
		return 0, nil
	}
	return n, nil
}

func testMessage(typ byte, body []byte) []byte {
	m := bytes.Repeat([]byte{0xff}, 16)
	m = binary.BigEndian.AppendUint16(m, uint16(19+len(body)))
	m = append(m, typ)
	return append(m, body...)
}

// chunkReader hands out its data in pieces of random size (1 byte at worst).
type chunkReader struct {
	data []byte
	rng  *rand.Rand
	max  int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := 1 + c.rng.IntN(c.max)
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func TestReaderFramesMessagesSplitAcrossReads(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i := range 200 {
		m := testMessage(byte(1+i%5), bytes.Repeat([]byte{byte(i)}, i*17%300))
		want = append(want, m)
		stream = append(stream, m...)
	}
	for _, max := range []int{1, 7, 19, 20, 4096} {
		r := NewReader(&chunkReader{data: stream, rng: rand.New(rand.NewPCG(1, uint64(max))), max: max}, testSplit, 4096)
		for i, w := range want {
			got, err := r.ReadMessage()
			if err != nil {
				t.Fatalf("chunk %d: message %d: %v", max, i, err)
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("chunk %d: message %d: got %x want %x", max, i, got, w)
			}
		}
		if _, err := r.ReadMessage(); err != io.EOF {
			t.Fatalf("chunk %d: at end got %v, want EOF", max, err)
		}
	}
}

func TestReaderBoundedBuffer(t *testing.T) {
	// A length the split function accepts but the buffer cannot hold.
	big := testMessage(2, make([]byte, 100))
	r := NewReader(bytes.NewReader(big), testSplit, 64)
	if _, err := r.ReadMessage(); !errors.Is(err, ErrMessageTooLong) {
		t.Fatalf("got %v, want ErrMessageTooLong", err)
	}
}

func TestReaderTruncatedStream(t *testing.T) {
	m := testMessage(4, nil)
	r := NewReader(bytes.NewReader(append(m, m[:10]...)), testSplit, 4096)
	if _, err := r.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want ErrUnexpectedEOF", err)
	}
}

func TestReaderSplitError(t *testing.T) {
	bad := testMessage(4, nil)
	bad[17] = 3 // length 3 is below the header size
	r := NewReader(bytes.NewReader(bad), testSplit, 4096)
	if _, err := r.ReadMessage(); err == nil || err.Error() != "bad length" {
		t.Fatalf("got %v, want the split error", err)
	}
}

func TestWriterQueueFullDoesNotBlock(t *testing.T) {
	pr, pw := io.Pipe() // nobody reads pr: the peer is stuck
	w := NewWriter(pw, 1000)
	msg := make([]byte, 300)
	var full bool
	for range 10 {
		if err := w.Send(msg); errors.Is(err, ErrQueueFull) {
			full = true
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if !full {
		t.Fatal("Send never reported a full queue")
	}
	_ = pr.CloseWithError(errors.New("peer gone"))
	if err := w.Close(); err == nil || err.Error() != "peer gone" {
		t.Fatalf("Close: got %v, want the write error", err)
	}
	if err := w.Send(msg); err == nil {
		t.Fatal("Send after failure succeeded")
	}
}

func TestWriterWritesInOrder(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, 0)
	var want []byte
	for i := range 1000 {
		m := testMessage(4, []byte{byte(i), byte(i >> 8)})
		want = append(want, m...)
		if err := w.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("written bytes differ from the queued messages")
	}
	if err := w.Send(want[:19]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: got %v, want ErrClosed", err)
	}
}

func TestConnCloseBoundedWhenPeerStuck(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := NewConn(a, testSplit, 1<<20)
	// net.Pipe is synchronous: with nobody reading b, the write blocks.
	if err := c.Send(testMessage(3, make([]byte, 100))); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Close(50 * time.Millisecond) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return although its linger expired")
	}
}
