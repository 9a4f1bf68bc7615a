package bfd

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// fixedRand returns the same value forever, so jitter is a known fraction:
// 250 gives exactly 100% of the interval, 0 gives 75%.
type fixedRand uint64

func (f fixedRand) Uint64() uint64 { return uint64(f) }

var epoch = time.Unix(1_000_000_000, 0)

type delivery struct {
	at   time.Time
	to   string
	data []byte
	seq  int
}

// harness runs named sessions on one fake clock. Sessions may be wired in
// pairs: what one sends reaches the other after latency unless that
// direction drops; sends of unwired sessions are printed.
type harness struct {
	now      time.Time
	sess     map[string]*Session
	names    []string
	peer     map[string]string
	drop     map[string]bool // "a>b"
	latency  time.Duration
	queue    []delivery
	seq      int
	verbose  bool
	out      strings.Builder
	sent     map[string]int
	received map[string]int
}

func newHarness() *harness {
	return &harness{
		now: epoch, sess: map[string]*Session{}, peer: map[string]string{},
		drop: map[string]bool{}, latency: time.Millisecond,
		sent: map[string]int{}, received: map[string]int{},
	}
}

func (h *harness) logf(name, f string, args ...any) {
	fmt.Fprintf(&h.out, "%v %s: %s\n", h.now.Sub(epoch), name, fmt.Sprintf(f, args...))
}

func (h *harness) handle(name string, acts []Action) {
	for _, a := range acts {
		switch a.Kind {
		case ActionSend:
			h.sent[name]++
			if p, ok := h.peer[name]; ok {
				if !h.drop[name+">"+p] {
					h.seq++
					h.queue = append(h.queue, delivery{at: h.now.Add(h.latency), to: p,
						data: append([]byte(nil), a.Bytes...), seq: h.seq})
				}
				if !h.verbose {
					continue
				}
			}
			// Round-trip every packet the engine builds through the codec.
			q, err := ParseControl(a.Bytes)
			if err != nil {
				h.logf(name, "engine sent unparseable packet: %v", err)
			} else if q.State != a.Packet.State || q.MyDiscr != a.Packet.MyDiscr {
				h.logf(name, "engine packet struct and bytes disagree")
			}
		}
		h.logf(name, "%v", a)
	}
}

// step delivers or ticks the earliest thing due at or before until; it
// returns false when nothing is due.
func (h *harness) step(until time.Time) bool {
	var best time.Time
	bestName := ""
	for _, n := range h.names {
		d := h.sess[n].NextDeadline()
		if !d.IsZero() && (bestName == "" || d.Before(best)) {
			best, bestName = d, n
		}
	}
	qi := -1
	for i, d := range h.queue {
		if qi < 0 || d.at.Before(h.queue[qi].at) || (d.at.Equal(h.queue[qi].at) && d.seq < h.queue[qi].seq) {
			qi = i
		}
	}
	if qi >= 0 && (bestName == "" || !h.queue[qi].at.After(best)) && !h.queue[qi].at.After(until) {
		d := h.queue[qi]
		h.queue = append(h.queue[:qi], h.queue[qi+1:]...)
		if d.at.After(h.now) {
			h.now = d.at
		}
		h.received[d.to]++
		p, err := ParseControl(d.data)
		if err != nil {
			h.logf(d.to, "parse: %v", err)
			return true
		}
		h.handle(d.to, h.sess[d.to].Step(h.now, Event{Kind: EventRecv, Packet: p, Raw: d.data}))
		return true
	}
	if bestName == "" || best.After(until) {
		return false
	}
	if best.After(h.now) {
		h.now = best
	}
	h.handle(bestName, h.sess[bestName].Step(h.now, Event{Kind: EventTick}))
	return true
}

func (h *harness) advance(d time.Duration) error {
	until := h.now.Add(d)
	for i := 0; h.step(until); i++ {
		if i > 1_000_000 {
			return fmt.Errorf("harness: no progress after 1e6 steps at %v", h.now.Sub(epoch))
		}
	}
	h.now = until
	return nil
}

func argDur(t testing.TB, d *datadriven.TestData, key string, def time.Duration) time.Duration {
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(t, key, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}

func argInt(t testing.TB, d *datadriven.TestData, key string, def uint64) uint64 {
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(t, key, &s)
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}

func argStr(t testing.TB, d *datadriven.TestData, key, def string) string {
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(t, key, &s)
	return s
}

func parseAuthType(s string) (AuthType, error) {
	for t := AuthSimplePassword; t <= AuthMeticulousSHA1; t++ {
		if t.String() == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown auth type %q", s)
}

// authArg reads auth=TYPE key=ID:SECRET.
func authArg(t testing.TB, d *datadriven.TestData) *AuthConfig {
	if !d.HasArg("auth") {
		return nil
	}
	at, err := parseAuthType(argStr(t, d, "auth", ""))
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	id, secret, ok := strings.Cut(argStr(t, d, "key", "1:secret"), ":")
	if !ok {
		d.Fatalf(t, "key: want ID:SECRET")
	}
	n, err := strconv.ParseUint(id, 10, 8)
	if err != nil {
		d.Fatalf(t, "key id: %v", err)
	}
	return &AuthConfig{Type: at, KeyID: uint8(n), Keys: map[uint8][]byte{uint8(n): []byte(secret)}}
}

func parseState(s string) (State, error) {
	for st := StateAdminDown; st <= StateUp; st++ {
		if strings.EqualFold(st.String(), s) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown state %q", s)
}

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		h := newHarness()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			h.out.Reset()
			name := argStr(t, d, "s", "a")
			switch d.Cmd {
			case "new":
				var src rand.Source = fixedRand(argInt(t, d, "rand", 250))
				if d.HasArg("pcg") {
					src = rand.NewPCG(argInt(t, d, "pcg", 1), 7)
				}
				cfg := SessionConfig{
					LocalDiscr:    uint32(argInt(t, d, "discr", 1)),
					DesiredMinTx:  argDur(t, d, "tx", 0),
					RequiredMinRx: argDur(t, d, "rx", 0),
					DetectMult:    uint8(argInt(t, d, "mult", 0)),
					Auth:          authArg(t, d),
					AdminDown:     d.HasArg("admin-down"),
					Rand:          src,
				}
				s, err := NewSession(cfg, h.now)
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				h.sess[name] = s
				h.names = append(h.names, name)
				sort.Strings(h.names)
			case "wire":
				var a, b string
				d.ScanArgs(t, "a", &a)
				d.ScanArgs(t, "b", &b)
				h.peer[a], h.peer[b] = b, a
				h.latency = argDur(t, d, "latency", time.Millisecond)
			case "drop":
				var dir string
				d.ScanArgs(t, "dir", &dir)
				h.drop[dir] = !d.HasArg("off")
			case "verbose":
				h.verbose = !d.HasArg("off")
			case "advance":
				var s string
				d.ScanArgs(t, "by", &s)
				v, err := time.ParseDuration(s)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				if err := h.advance(v); err != nil {
					return err.Error()
				}
			case "recv":
				st, err := parseState(argStr(t, d, "state", "Down"))
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				p := ControlPacket{
					State:         st,
					Diag:          Diag(argInt(t, d, "diag", 0)),
					Poll:          d.HasArg("P"),
					Final:         d.HasArg("F"),
					Demand:        d.HasArg("D"),
					DetectMult:    uint8(argInt(t, d, "mult", 3)),
					MyDiscr:       uint32(argInt(t, d, "my", 2)),
					YourDiscr:     uint32(argInt(t, d, "your", 0)),
					DesiredMinTx:  argDur(t, d, "tx", time.Second),
					RequiredMinRx: argDur(t, d, "rx", time.Second),
				}
				ac := authArg(t, d)
				if ac != nil {
					p.AuthBit = true
					p.Auth = &Auth{Type: ac.Type, KeyID: ac.KeyID, Seq: uint32(argInt(t, d, "seq", 0))}
					if ac.Type == AuthSimplePassword {
						p.Auth.Password = ac.Keys[ac.KeyID]
					}
				}
				raw, err := p.Marshal()
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				ac.sign(raw)
				q, err := ParseControl(raw)
				if err != nil {
					return "parse: " + err.Error() + "\n"
				}
				h.handle(name, h.sess[name].Step(h.now, Event{Kind: EventRecv, Packet: q, Raw: raw}))
			case "admin-down":
				h.handle(name, h.sess[name].Step(h.now, Event{Kind: EventAdminDown}))
			case "admin-up":
				h.handle(name, h.sess[name].Step(h.now, Event{Kind: EventAdminUp}))
			case "timers":
				h.handle(name, h.sess[name].Step(h.now, Event{Kind: EventSetTimers, Timers: Timers{
					DesiredMinTx: argDur(t, d, "tx", 0), RequiredMinRx: argDur(t, d, "rx", 0),
					DetectMult: uint8(argInt(t, d, "mult", 0)),
				}}))
			case "status":
				st := h.sess[name].Status()
				fmt.Fprintf(&h.out, "state=%v remote=%v diag=%d rdiag=%d your=%d tx=%v rx=%v rtx=%v rrx=%v rmult=%d interval=%v detect=%v poll=%v rdemand=%v next=%v\n",
					st.State, st.RemoteState, st.LocalDiag, st.RemoteDiag, st.RemoteDiscr,
					st.DesiredMinTx, st.RequiredMinRx, st.RemoteDesiredMinTx, st.RemoteMinRx, st.RemoteDetectMult,
					st.TxInterval, st.DetectionTime, st.PollActive, st.RemoteDemand,
					h.sess[name].NextDeadline().Sub(epoch))
			case "counts":
				for _, n := range h.names {
					fmt.Fprintf(&h.out, "%s: sent=%d received=%d\n", n, h.sent[n], h.received[n])
				}
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			if h.out.Len() == 0 {
				return "ok\n"
			}
			return h.out.String()
		})
	})
}
