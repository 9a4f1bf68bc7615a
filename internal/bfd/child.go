package bfd

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// frameQueue writes frames from one goroutine, so that the Server's loop,
// which reports state changes, never waits for the pipe to the parent.
type frameQueue struct {
	mu     sync.Mutex
	q      [][]byte
	closed bool
	err    error
	wake   chan struct{}
	done   chan struct{}
}

func newFrameQueue(w io.Writer) *frameQueue {
	fq := &frameQueue{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go fq.run(w)
	return fq
}

func (fq *frameQueue) put(typ uint8, id uint32, body any) {
	b, err := appendFrame(nil, typ, id, body)
	if err != nil {
		// Only an oversized Peers() can get here: answer with the error
		// rather than leave the request unanswered.
		b, _ = appendFrame(nil, ipcResponse, id, ipcResponseBody{Err: err.Error()})
	}
	fq.mu.Lock()
	if !fq.closed {
		fq.q = append(fq.q, b)
	}
	fq.mu.Unlock()
	select {
	case fq.wake <- struct{}{}:
	default:
	}
}

func (fq *frameQueue) run(w io.Writer) {
	defer close(fq.done)
	for {
		fq.mu.Lock()
		q, closed := fq.q, fq.closed
		fq.q = nil
		fq.mu.Unlock()
		for _, b := range q {
			if _, err := w.Write(b); err != nil {
				fq.mu.Lock()
				fq.err, fq.closed, fq.q = err, true, nil
				fq.mu.Unlock()
				return
			}
		}
		if closed {
			return
		}
		if len(q) == 0 {
			<-fq.wake
		}
	}
}

// close writes what is queued and stops.
func (fq *frameQueue) close() error {
	fq.mu.Lock()
	fq.closed = true
	fq.mu.Unlock()
	select {
	case fq.wake <- struct{}{}:
	default:
	}
	<-fq.done
	return fq.err
}

// serveChild is the BFD child's life: greet the parent, then run a Server
// as the parent's requests say until it asks to close or goes away. State
// changes go back as they happen. newTransport opens the child's sockets
// from the parent's description.
func serveChild(rw io.ReadWriter, hello ipcHelloBody, newTransport func(ipcTransport) Transport) error {
	out := newFrameQueue(rw)
	defer out.close()
	out.put(ipcHello, 0, hello)
	var srv *Server
	defer func() {
		if srv != nil {
			srv.Close()
		}
	}()
	for {
		f, err := readFrame(rw)
		if errors.Is(err, io.EOF) {
			return nil // the parent closed its end: it is gone or done
		}
		if err != nil {
			return err
		}
		if f.Type != ipcRequest {
			return fmt.Errorf("bfd ipc: the parent sent frame type %d", f.Type)
		}
		var req ipcRequestBody
		if err := f.decode(&req); err == nil {
			err = req.check()
		}
		if err != nil {
			// Answer, so the parent's call fails with the reason, and
			// carry on: one bad request need not end every session.
			out.put(ipcResponse, f.ID, ipcResponseBody{Err: err.Error()})
			continue
		}
		var resp ipcResponseBody
		switch {
		case req.Op == opStart:
			if srv != nil {
				resp.Err = "bfd ipc: the server is already started"
				break
			}
			srv, err = NewServer(ServerConfig{
				Transport: newTransport(*req.Transport),
				OnStateChange: func(sc StateChange) {
					out.put(ipcStateChange, 0, sc)
				},
			})
			if err != nil {
				resp.Err = err.Error()
			}
		case srv == nil:
			resp.Err = fmt.Sprintf("bfd ipc: %s before start", req.Op)
		case req.Op == opAddPeer:
			resp.Key, err = srv.AddPeer(*req.Peer)
			if err != nil {
				resp.Err = err.Error()
			}
		case req.Op == opRemovePeer:
			if err := srv.RemovePeer(*req.Key); err != nil {
				resp.Err = err.Error()
			}
		case req.Op == opPeers:
			resp.Peers = srv.Peers()
		case req.Op == opDiscarded:
			resp.Discarded = srv.Discarded()
		case req.Op == opClose, req.Op == opCloseAdminDown:
			if req.Op == opCloseAdminDown {
				srv.CloseAdminDown()
			} else {
				srv.Close()
			}
			srv = nil
			out.put(ipcResponse, f.ID, resp)
			return nil
		}
		out.put(ipcResponse, f.ID, resp)
	}
}
