package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/daemon"
)

type fakeBFD struct {
	fake
	r daemon.BFDReport
}

func (f *fakeBFD) BFDSessions(context.Context) (daemon.BFDReport, error) { return f.r, nil }

func bfdFixture() *fakeBFD {
	at := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return &fakeBFD{r: daemon.BFDReport{
		Sessions: []daemon.BFDSession{
			{
				Peer: netip.MustParseAddr("10.1.0.1"), Neighbor: netip.MustParseAddr("10.1.0.1"), Description: "spine1", Auth: "keyed-sha1",
				State: "Up", RemoteState: "Up", LocalDiag: "No Diagnostic", RemoteDiag: "No Diagnostic", LocalDiscr: 7, RemoteDiscr: 9,
				DetectMult: 3, DesiredMinTxMS: 50, RequiredMinRxMS: 50, RemoteDetectMult: 3, RemoteDesiredTxMS: 100, RemoteRequiredRxMS: 50,
				TxIntervalMS: 50, DetectionTimeMS: 300, Ups: 2, Downs: 1, LastDownDiag: "Control Detection Time Expired", LastDownAt: at,
				Rx: 1000, Tx: 1001, RxDiscarded: 2, LastDiscard: "bfd: digest mismatch",
			},
			{
				Peer: netip.MustParseAddr("10.9.0.1"), Local: netip.MustParseAddr("10.0.0.1"), Multihop: true, Description: "static next hop",
				State: "Down", RemoteState: "Down", LocalDiag: "No Diagnostic", RemoteDiag: "No Diagnostic", LocalDiscr: 8,
				DetectMult: 3, DesiredMinTxMS: 1000, RequiredMinRxMS: 300, Tx: 5,
			},
		},
		Stats: daemon.BFDStats{Sessions: 2, Up: 1, UpTransitions: 2, DownTransitions: 1, Unmatched: 4},
	}}
}

func TestBFDEndpoint(t *testing.T) {
	h := NewHandler(bfdFixture(), info)
	rec := do(h, "GET", "/v1/bfd", "")
	var r daemon.BFDReport
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &r) != nil || len(r.Sessions) != 2 || r.Stats.DownTransitions != 1 {
		t.Fatalf("GET /v1/bfd: %d %s", rec.Code, rec.Body)
	}
	golden(t, "bfd.json", rec.Body.Bytes())
	if strings.Contains(rec.Body.String(), "key\"") {
		t.Errorf("the answer carries a key: %s", rec.Body)
	}
	rec = do(h, "GET", "/v1/bfd?peer=10.9.0.1", "")
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &r) != nil || len(r.Sessions) != 1 || !r.Sessions[0].Multihop {
		t.Errorf("GET one peer: %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "GET", "/v1/bfd?peer=10.9.0.2", ""); rec.Code != 404 || !strings.Contains(rec.Body.String(), "sessions: 10.1.0.1, 10.9.0.1") {
		t.Errorf("unknown peer: %d %s", rec.Code, rec.Body)
	}
	if rec := do(h, "GET", "/v1/bfd?peer=not%20a%20peer", ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), "want an IP address") {
		t.Errorf("bad peer: %d %s", rec.Code, rec.Body)
	}
	if rec := do(NewHandler(&fake{}, info), "GET", "/v1/bfd", ""); rec.Code != 501 {
		t.Errorf("backend without BFD: %d %s", rec.Code, rec.Body)
	}
	var text bytes.Buffer
	if err := RenderBFD(&text, bfdFixture().r); err != nil {
		t.Fatal(err)
	}
	golden(t, "bfd.txt", text.Bytes())
	text.Reset()
	RenderBFD(&text, daemon.BFDReport{})
	if !strings.Contains(text.String(), "No BFD sessions") {
		t.Errorf("empty: %q", text.String())
	}
}
