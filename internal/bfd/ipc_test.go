package bfd

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestIPCFrameRoundTrip(t *testing.T) {
	pc := PeerConfig{Peer: netip.MustParseAddr("fe80::1"), Interface: "eth0", DesiredMinTx: 10 * time.Millisecond,
		RequiredMinRx: 20 * time.Millisecond, DetectMult: 3,
		Auth: &AuthConfig{Type: AuthKeyedSHA1, KeyID: 2, Keys: map[uint8][]byte{2: []byte("s3cret")}}}
	b, err := appendFrame(nil, ipcRequest, 7, ipcRequestBody{Op: opAddPeer, Peer: &pc})
	if err != nil {
		t.Fatal(err)
	}
	f, err := readFrame(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var req ipcRequestBody
	if err := f.decode(&req); err != nil {
		t.Fatal(err)
	}
	if f.Type != ipcRequest || f.ID != 7 || req.Op != opAddPeer || req.check() != nil {
		t.Fatalf("frame %d/%d op %q", f.Type, f.ID, req.Op)
	}
	if diff := cmp.Diff(pc, *req.Peer, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("peer config changed on the way (-want +got):\n%s", diff)
	}
	sc := StateChange{Key: pc.Key(), From: StateUp, To: StateDown, Diag: DiagControlDetectExpired, At: time.Unix(1, 2).UTC(), PeerRestarted: true}
	b, _ = appendFrame(nil, ipcStateChange, 0, sc)
	f, err = readFrame(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var got StateChange
	if err := f.decode(&got); err != nil || got != sc {
		t.Errorf("state change %+v, want %+v (%v)", got, sc, err)
	}
}

func TestIPCFrameErrors(t *testing.T) {
	hdr := func(n uint32, ver, typ byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, n)
		return append(b, ver, typ, 0, 0, 0, 1)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"short length", hdr(5, 1, 2), "frame length 5"},
		{"huge length", hdr(1<<30, 1, 2), "frame length 1073741824"},
		{"version", hdr(8, 2, 2), "protocol version 2"},
		{"type", hdr(8, 1, 9), "unknown frame type 9"},
		{"truncated", append(hdr(12, 1, 2), '{'), "truncated frame"},
	} {
		_, err := readFrame(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := readFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("empty stream: %v, want EOF", err)
	}
	for _, body := range []string{`{"op":"add-peer"}`, `{"op":"remove-peer"}`, `{"op":"start"}`, `{"op":"reboot"}`,
		`{"op":"add-peer","peer":{"Peer":"300.1.1.1"}}`, `{"op":"add-peer","peer":{"Auth":{"Keys":{"256":"AA=="}}}}`} {
		var req ipcRequestBody
		err := (ipcFrame{Type: ipcRequest, Body: []byte(body)}).decode(&req)
		if err == nil {
			err = req.check()
		}
		if err == nil {
			t.Errorf("request %s accepted", body)
		}
	}
}

// FuzzIPCFrame: whatever the pipe carries, the parser returns an error or
// a frame whose body decodes (or fails to) without a panic, and a request
// that passes check re-encodes to a frame that parses the same.
func FuzzIPCFrame(f *testing.F) {
	seed := func(typ uint8, body any) {
		b, err := appendFrame(nil, typ, 1, body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	pc := PeerConfig{Peer: netip.MustParseAddr("10.0.0.1"), Local: netip.MustParseAddr("10.0.0.2"), Multihop: true, MinTTL: 250,
		DesiredMinTx: time.Second, RequiredMinRx: time.Second, DetectMult: 3,
		Auth: &AuthConfig{Type: AuthSimplePassword, KeyID: 1, Keys: map[uint8][]byte{1: []byte("pw")}}}
	k := pc.Key()
	seed(ipcRequest, ipcRequestBody{Op: opAddPeer, Peer: &pc})
	seed(ipcRequest, ipcRequestBody{Op: opRemovePeer, Key: &k})
	seed(ipcRequest, ipcRequestBody{Op: opStart, Transport: &ipcTransport{Port: 3784, MultihopPort: -1}})
	seed(ipcRequest, ipcRequestBody{Op: opCloseAdminDown})
	seed(ipcHello, ipcHelloBody{Pid: 42, NetNS: 4026531840, Nice: -20, Policy: "rr"})
	seed(ipcResponse, ipcResponseBody{Key: k, Peers: []PeerStatus{{Key: k, Status: Status{State: StateUp}}}})
	seed(ipcStateChange, StateChange{Key: k, From: StateInit, To: StateUp})
	f.Add([]byte{0, 0, 0, 6, 1, 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := readFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		switch fr.Type {
		case ipcHello:
			var h ipcHelloBody
			fr.decode(&h)
		case ipcResponse:
			var r ipcResponseBody
			if fr.decode(&r) == nil {
				r.err()
			}
		case ipcStateChange:
			var sc StateChange
			fr.decode(&sc)
		case ipcRequest:
			var req ipcRequestBody
			if fr.decode(&req) != nil || req.check() != nil {
				return
			}
			b, err := appendFrame(nil, ipcRequest, fr.ID, req)
			if err != nil {
				t.Fatal(err)
			}
			fr2, err := readFrame(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("re-encoded request does not parse: %v", err)
			}
			var req2 ipcRequestBody
			if err := fr2.decode(&req2); err != nil || req2.check() != nil || req2.Op != req.Op || fr2.ID != fr.ID {
				t.Fatalf("re-encoded request %+v became %+v (%v)", req, req2, err)
			}
		default:
			t.Fatalf("readFrame returned type %d", fr.Type)
		}
	})
}
