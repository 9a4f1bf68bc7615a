package transport

import (
	"bytes"
	"io"
	"testing"
)

// loopReader serves the same stream over and over.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

// BenchmarkReaderFraming is the framing cost per message for a stream of
// typical 100-byte UPDATEs.
func BenchmarkReaderFraming(b *testing.B) {
	var stream []byte
	for range 1000 {
		stream = append(stream, testMessage(2, make([]byte, 81))...)
	}
	r := NewReader(&loopReader{data: stream}, testSplit, MaxBuffer)
	b.SetBytes(100)
	b.ReportAllocs()
	for range b.N {
		if _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWriterQueue is the cost of Send with the writer goroutine
// draining into a sink.
func BenchmarkWriterQueue(b *testing.B) {
	w := NewWriter(io.Discard, 0)
	msg := bytes.Repeat([]byte{1}, 100)
	b.SetBytes(100)
	b.ReportAllocs()
	for range b.N {
		for w.Send(msg) == ErrQueueFull {
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
