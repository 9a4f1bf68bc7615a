package bfd

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// The protocol between closd and its BFD child process (see child.go and
// client.go). Every frame is
//
//	length  uint32  bytes after this field, 6..ipcMaxFrame
//	version uint8   ipcVersion; a frame of another version is refused
//	type    uint8   ipcHello, ipcRequest, ipcResponse, ipcStateChange
//	id      uint32  request id, echoed by its response; 0 otherwise
//	body    JSON    the type's struct below
//
// over a stream socketpair. Both ends are the same binary, so the version
// only guards against a child left from an older closd on the same pipe;
// the parser still treats every byte as hostile: a bad frame is an error
// for the connection, never a panic.
const (
	ipcVersion  = 1
	ipcHeader   = 10
	ipcMaxFrame = 16 << 20 // Peers() of 1,000 sessions is about 1 MB
)

// Frame types.
const (
	ipcHello       = 1 // child -> parent, once, before anything else
	ipcRequest     = 2 // parent -> child
	ipcResponse    = 3 // child -> parent, same id as the request
	ipcStateChange = 4 // child -> parent, any time after hello
)

// Request operations.
const (
	opStart          = "start" // first request: open the transport
	opAddPeer        = "add-peer"
	opRemovePeer     = "remove-peer"
	opPeers          = "peers"
	opDiscarded      = "discarded"
	opClose          = "close"
	opCloseAdminDown = "close-admin-down"
)

// ipcFrame is one decoded frame; Body is still JSON.
type ipcFrame struct {
	Type uint8
	ID   uint32
	Body []byte
}

// ipcHelloBody is the child's greeting: who it is and where it runs.
type ipcHelloBody struct {
	Pid int `json:"pid"`
	// NetNS is the inode of the child's network namespace; the parent
	// refuses a child that is not in its own.
	NetNS uint64 `json:"netns"`
	// Nice is the nice value the child's threads got (0 when it could not
	// raise its priority).
	Nice int `json:"nice"`
	// Policy is "rr" when the threads run SCHED_RR, else empty.
	Policy string `json:"policy,omitempty"`
}

// ipcTransport is the part of UDPTransport a child needs to open its
// sockets.
type ipcTransport struct {
	ListenAddrs  []netip.Addr `json:"listen_addrs,omitempty"`
	Port         int          `json:"port,omitempty"`
	MultihopPort int          `json:"multihop_port,omitempty"`
}

type ipcRequestBody struct {
	Op        string        `json:"op"`
	Transport *ipcTransport `json:"transport,omitempty"`
	Peer      *PeerConfig   `json:"peer,omitempty"`
	Key       *PeerKey      `json:"key,omitempty"`
}

type ipcResponseBody struct {
	Err       string       `json:"err,omitempty"`
	Key       PeerKey      `json:"key"`
	Peers     []PeerStatus `json:"peers,omitempty"`
	Discarded uint64       `json:"discarded,omitempty"`
}

// err turns a response's error text back into an error; ErrClosed stays
// comparable with errors.Is.
func (r *ipcResponseBody) err() error {
	switch r.Err {
	case "":
		return nil
	case ErrClosed.Error():
		return ErrClosed
	}
	return errors.New(r.Err)
}

func appendFrame(dst []byte, typ uint8, id uint32, body any) ([]byte, error) {
	js, err := json.Marshal(body)
	if err != nil {
		return dst, err
	}
	if len(js)+ipcHeader-4 > ipcMaxFrame {
		return dst, fmt.Errorf("bfd ipc: frame of %d bytes exceeds %d", len(js), ipcMaxFrame)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(js)+ipcHeader-4))
	dst = append(dst, ipcVersion, typ)
	dst = binary.BigEndian.AppendUint32(dst, id)
	return append(dst, js...), nil
}

// readFrame reads one frame. Any error leaves the stream unusable.
func readFrame(r io.Reader) (ipcFrame, error) {
	var h [ipcHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return ipcFrame{}, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n < ipcHeader-4 || n > ipcMaxFrame {
		return ipcFrame{}, fmt.Errorf("bfd ipc: frame length %d outside %d..%d", n, ipcHeader-4, ipcMaxFrame)
	}
	if h[4] != ipcVersion {
		return ipcFrame{}, fmt.Errorf("bfd ipc: protocol version %d, want %d", h[4], ipcVersion)
	}
	f := ipcFrame{Type: h[5], ID: binary.BigEndian.Uint32(h[6:10])}
	if f.Type < ipcHello || f.Type > ipcStateChange {
		return ipcFrame{}, fmt.Errorf("bfd ipc: unknown frame type %d", f.Type)
	}
	f.Body = make([]byte, n-(ipcHeader-4))
	if _, err := io.ReadFull(r, f.Body); err != nil {
		return ipcFrame{}, fmt.Errorf("bfd ipc: truncated frame: %w", err)
	}
	return f, nil
}

// decode unmarshals a frame's body into v (a pointer to the type's body
// struct), refusing trailing data.
func (f ipcFrame) decode(v any) error {
	if err := json.Unmarshal(f.Body, v); err != nil {
		return fmt.Errorf("bfd ipc: frame type %d: %w", f.Type, err)
	}
	return nil
}

// check reports a request the child cannot act on.
func (r *ipcRequestBody) check() error {
	switch r.Op {
	case opStart:
		if r.Transport == nil {
			return errors.New("bfd ipc: start without a transport")
		}
	case opAddPeer:
		if r.Peer == nil {
			return errors.New("bfd ipc: add-peer without a peer")
		}
	case opRemovePeer:
		if r.Key == nil {
			return errors.New("bfd ipc: remove-peer without a key")
		}
	case opPeers, opDiscarded, opClose, opCloseAdminDown:
	default:
		return fmt.Errorf("bfd ipc: unknown operation %q", r.Op)
	}
	return nil
}
