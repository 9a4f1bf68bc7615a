package fsm

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/closnet/clos/internal/bgp/wire"
)

// epoch is the fake clock's zero; scenario times are offsets from it.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type harness struct {
	sessions map[string]*Session
}

func TestScenarios(t *testing.T) {
	// Glob rather than Walk: testdata/fuzz holds fuzz corpora, not scenarios.
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			h := &harness{sessions: map[string]*Session{}}
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				out, err := h.run(d)
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				return out
			})
		})
	}
}

func arg(d *datadriven.TestData, key string) (string, bool) {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, ","), true
		}
	}
	return "", false
}

func args(d *datadriven.TestData, key string) []string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return a.Vals
		}
	}
	return nil
}

func durArg(d *datadriven.TestData, key string) (time.Duration, error) {
	v, ok := arg(d, key)
	if !ok {
		return 0, nil
	}
	return time.ParseDuration(v)
}

func uintArg(d *datadriven.TestData, key string, def uint64) (uint64, error) {
	v, ok := arg(d, key)
	if !ok {
		return def, nil
	}
	return strconv.ParseUint(v, 10, 32)
}

func (h *harness) session(d *datadriven.TestData) (*Session, string, error) {
	name, ok := arg(d, "name")
	if !ok {
		name = "s"
	}
	s := h.sessions[name]
	if s == nil {
		return nil, name, fmt.Errorf("no session %q", name)
	}
	return s, name, nil
}

func (h *harness) run(d *datadriven.TestData) (string, error) {
	switch d.Cmd {
	case "new":
		return h.newSession(d)
	case "step":
		s, _, err := h.session(d)
		if err != nil {
			return "", err
		}
		at, err := durArg(d, "t")
		if err != nil {
			return "", err
		}
		ev, err := makeEvent(d, s)
		if err != nil {
			return "", err
		}
		before := s.State()
		acts := s.Step(epoch.Add(at), ev)
		var b strings.Builder
		if s.State() != before {
			fmt.Fprintf(&b, "%s -> %s\n", before, s.State())
		}
		for _, a := range acts {
			b.WriteString(formatAction(a))
			b.WriteByte('\n')
		}
		b.WriteString(formatTimers(s))
		return b.String(), nil
	case "collision":
		if len(d.CmdArgs) != 2 {
			return "", fmt.Errorf("collision takes two session names")
		}
		a, b := h.sessions[d.CmdArgs[0].Key], h.sessions[d.CmdArgs[1].Key]
		if a == nil || b == nil {
			return "", fmt.Errorf("unknown session")
		}
		switch Collision(a, b) {
		case nil:
			return "no decision\n", nil
		case a:
			return "dump " + d.CmdArgs[0].Key + "\n", nil
		default:
			return "dump " + d.CmdArgs[1].Key + "\n", nil
		}
	case "status":
		s, _, err := h.session(d)
		if err != nil {
			return "", err
		}
		return formatStatus(s.Status()), nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

func (h *harness) newSession(d *datadriven.TestData) (string, error) {
	name, ok := arg(d, "name")
	if !ok {
		name = "s"
	}
	var cfg Config
	as, err := uintArg(d, "as", 0)
	if err != nil {
		return "", err
	}
	cfg.LocalAS = uint32(as)
	if v, ok := arg(d, "id"); ok {
		if cfg.RouterID, err = netip.ParseAddr(v); err != nil {
			return "", err
		}
	}
	if v, ok := arg(d, "peer-as"); ok {
		if cfg.PeerAS, err = ParsePeerAS(v); err != nil {
			return "", err
		}
	}
	for key, dst := range map[string]*time.Duration{
		"hold": &cfg.HoldTime, "connect-retry": &cfg.ConnectRetry, "idle-hold": &cfg.IdleHoldTime,
		"max-idle-hold": &cfg.MaxIdleHoldTime, "stable": &cfg.StableTime, "min-peer-hold": &cfg.MinPeerHoldTime,
		"open-hold": &cfg.OpenHoldTime, "keepalive": &cfg.Keepalive,
	} {
		if *dst, err = durArg(d, key); err != nil {
			return "", err
		}
	}
	if v, ok := arg(d, "hold"); ok && v == "0s" {
		cfg.NoHoldTime = true
	}
	cfg.Passive = d.HasArg("passive")
	if cfg.Capabilities, err = parseCaps(args(d, "caps")); err != nil {
		return "", err
	}
	for _, r := range args(d, "required") {
		code, ok := capCodes[r]
		if !ok {
			return "", fmt.Errorf("unknown capability %q", r)
		}
		cfg.Required = append(cfg.Required, code)
	}
	if v, ok := arg(d, "jitter"); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return "", err
		}
		cfg.Jitter = func() float64 { return f }
	}
	s, err := New(cfg)
	if err != nil {
		return "", err
	}
	h.sessions[name] = s
	return "ok\n", nil
}

var capCodes = map[string]uint8{
	"mp": wire.CapMultiprotocol, "rr": wire.CapRouteRefresh, "err": wire.CapEnhancedRouteRefresh,
	"as4": wire.CapAS4, "addpath": wire.CapAddPath, "enh": wire.CapExtendedNextHop,
	"gr": wire.CapGracefulRestart, "extmsg": wire.CapExtendedMessage, "fqdn": wire.CapFQDN,
}

func parseFamily(s string) (wire.Family, error) {
	switch s {
	case "ipv4-unicast":
		return wire.IPv4Unicast, nil
	case "ipv6-unicast":
		return wire.IPv6Unicast, nil
	}
	return wire.Family{}, fmt.Errorf("unknown family %q", s)
}

// parseCaps reads tokens: as4 rr err extmsg mp:FAMILY addpath:FAMILY:MODE
// enh:FAMILY gr:SECONDS grn:SECONDS (with the N bit).
func parseCaps(toks []string) (wire.Capabilities, error) {
	var c wire.Capabilities
	for _, tok := range toks {
		parts := strings.Split(tok, ":")
		switch parts[0] {
		case "as4":
			c.AS4 = true
		case "rr":
			c.RouteRefresh = true
		case "err":
			c.EnhancedRouteRefresh = true
		case "extmsg":
			c.ExtendedMessage = true
		case "mp", "addpath", "enh":
			if len(parts) < 2 {
				return c, fmt.Errorf("%s needs a family", tok)
			}
			f, err := parseFamily(parts[1])
			if err != nil {
				return c, err
			}
			switch parts[0] {
			case "mp":
				c.Multiprotocol = append(c.Multiprotocol, f)
			case "enh":
				c.ExtendedNextHop = append(c.ExtendedNextHop, wire.ExtendedNextHop{NLRI: f, NextHopAFI: wire.AFIIPv6})
			case "addpath":
				mode := map[string]wire.AddPathMode{"recv": wire.AddPathReceive, "send": wire.AddPathSend, "both": wire.AddPathBoth}[parts[len(parts)-1]]
				if mode == 0 {
					return c, fmt.Errorf("%s: mode must be recv, send or both", tok)
				}
				c.AddPath = append(c.AddPath, wire.AddPathFamily{Family: f, Mode: mode})
			}
		case "gr", "grn":
			t := uint64(120)
			if len(parts) > 1 {
				var err error
				if t, err = strconv.ParseUint(parts[1], 10, 12); err != nil {
					return c, err
				}
			}
			c.GracefulRestart = &wire.GracefulRestart{Time: uint16(t), Notification: parts[0] == "grn"}
		case "":
		default:
			return c, fmt.Errorf("unknown capability %q", tok)
		}
	}
	return c, nil
}

// roundTrip encodes m and parses it back as the daemon would receive it,
// so scenarios exercise the real wire checks.
func roundTrip(m wire.Message, opts *wire.Options) (RecvMessage, error) {
	b, err := wire.Append(nil, m, opts)
	if err != nil {
		return RecvMessage{}, err
	}
	return parse(b, opts), nil
}

func parse(b []byte, opts *wire.Options) RecvMessage {
	msg, err := wire.Parse(b, opts)
	return RecvMessage{Msg: msg, Err: err}
}

func makeEvent(d *datadriven.TestData, s *Session) (Event, error) {
	ev, _ := arg(d, "event")
	msg, _ := arg(d, "msg")
	switch ev {
	case "manual-start":
		return ManualStart{Passive: d.HasArg("passive")}, nil
	case "manual-stop":
		return ManualStop{Message: msg, Reset: d.HasArg("reset")}, nil
	case "auto-start":
		return AutomaticStart{Passive: d.HasArg("passive")}, nil
	case "auto-stop":
		sub, err := uintArg(d, "subcode", 0)
		return AutomaticStop{Subcode: uint8(sub), Message: msg}, err
	case "tick":
		return Tick{}, nil
	case "connect-retry-expires":
		return ConnectRetryTimerExpires{}, nil
	case "hold-expires":
		return HoldTimerExpires{}, nil
	case "keepalive-expires":
		return KeepaliveTimerExpires{}, nil
	case "idle-hold-expires":
		return IdleHoldTimerExpires{}, nil
	case "tcp-confirmed":
		return TcpConnectionConfirmed{Inbound: d.HasArg("inbound")}, nil
	case "tcp-fails":
		return TcpConnectionFails{Reason: "connection reset"}, nil
	case "collision-dump":
		return OpenCollisionDump{}, nil
	case "keepalive":
		return roundTrip(&wire.Keepalive{}, s.Options())
	case "open":
		as, err := uintArg(d, "as", 0)
		if err != nil {
			return nil, err
		}
		hold, err := uintArg(d, "hold", 90)
		if err != nil {
			return nil, err
		}
		ver, err := uintArg(d, "version", 4)
		if err != nil {
			return nil, err
		}
		idStr, ok := arg(d, "id")
		if !ok {
			idStr = "192.0.2.1"
		}
		id, err := netip.ParseAddr(idStr)
		if err != nil {
			return nil, err
		}
		caps, err := parseCaps(args(d, "caps"))
		if err != nil {
			return nil, err
		}
		o := &wire.Open{Version: uint8(ver), AS: uint32(as), HoldTime: uint16(hold), RouterID: id, Caps: caps}
		return roundTrip(o, nil)
	case "notification":
		code, err := uintArg(d, "code", 6)
		if err != nil {
			return nil, err
		}
		sub, err := uintArg(d, "subcode", 0)
		if err != nil {
			return nil, err
		}
		n := &wire.Notification{Code: uint8(code), Subcode: uint8(sub)}
		if v, ok := arg(d, "data"); ok {
			if n.Data, err = hex.DecodeString(v); err != nil {
				return nil, err
			}
		}
		if msg != "" {
			n = wire.ShutdownNotification(uint8(sub), msg)
		}
		return roundTrip(n, s.Options())
	case "route-refresh":
		fs, _ := arg(d, "family")
		if fs == "" {
			fs = "ipv4-unicast"
		}
		f, err := parseFamily(fs)
		if err != nil {
			return nil, err
		}
		sub, err := uintArg(d, "subtype", 0)
		if err != nil {
			return nil, err
		}
		if sub > 2 {
			// Append refuses unknown subtypes; build the bytes by hand.
			b := header(wire.TypeRouteRefresh, 4)
			b = append(binary.BigEndian.AppendUint16(b, uint16(f.AFI)), uint8(sub), byte(f.SAFI))
			return parse(b, s.Options()), nil
		}
		return roundTrip(&wire.RouteRefresh{Family: f, Subtype: uint8(sub)}, s.Options())
	case "update":
		return parse(updateBytes(d, s.Options()), s.Options()), nil
	case "raw":
		h, _ := arg(d, "hex")
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, err
		}
		return parse(b, s.Options()), nil
	}
	return nil, fmt.Errorf("unknown event %q", ev)
}

func header(t wire.MessageType, bodyLen int) []byte {
	b := slices.Repeat([]byte{0xff}, 16)
	b = binary.BigEndian.AppendUint16(b, uint16(wire.HeaderLen+bodyLen))
	return append(b, byte(t))
}

// updateBytes builds an IPv4 UPDATE by hand: nlri=N prefixes 10.0.i.0/24
// with ORIGIN, AS_PATH and NEXT_HOP, withdraw=N withdrawn prefixes;
// no-origin drops ORIGIN (RFC 7606: treat-as-withdraw); bad-length makes
// the withdrawn length overrun (session reset).
func updateBytes(d *datadriven.TestData, opts *wire.Options) []byte {
	n, _ := uintArg(d, "nlri", 0)
	w, _ := uintArg(d, "withdraw", 0)
	var withdrawn, attrs, nlri []byte
	for i := range w {
		withdrawn = append(withdrawn, 24, 10, 1, byte(i))
	}
	for i := range n {
		nlri = append(nlri, 24, 10, 0, byte(i))
	}
	if n > 0 {
		if !d.HasArg("no-origin") {
			attrs = append(attrs, 0x40, 1, 1, 0)
		}
		if opts.AS4 {
			attrs = append(attrs, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9)
		} else {
			attrs = append(attrs, 0x40, 2, 4, 2, 1, 0xfd, 0xe9)
		}
		attrs = append(attrs, 0x40, 3, 4, 192, 0, 2, 1)
	}
	body := binary.BigEndian.AppendUint16(nil, uint16(len(withdrawn)))
	if d.HasArg("bad-length") {
		body = binary.BigEndian.AppendUint16(nil, 200)
	}
	body = append(body, withdrawn...)
	body = binary.BigEndian.AppendUint16(body, uint16(len(attrs)))
	body = append(body, attrs...)
	body = append(body, nlri...)
	return append(header(wire.TypeUpdate, len(body)), body...)
}

func formatCaps(c *wire.Capabilities) string {
	var t []string
	if c.AS4 {
		t = append(t, "as4")
	}
	for _, f := range c.Multiprotocol {
		t = append(t, "mp:"+f.String())
	}
	if c.RouteRefresh {
		t = append(t, "rr")
	}
	if c.EnhancedRouteRefresh {
		t = append(t, "err")
	}
	if c.ExtendedMessage {
		t = append(t, "extmsg")
	}
	for _, a := range c.AddPath {
		t = append(t, fmt.Sprintf("addpath:%s:%d", a.Family, a.Mode))
	}
	for _, e := range c.ExtendedNextHop {
		t = append(t, "enh:"+e.NLRI.String())
	}
	if c.GracefulRestart != nil {
		n := ""
		if c.GracefulRestart.Notification {
			n = "n"
		}
		t = append(t, fmt.Sprintf("gr%s:%d", n, c.GracefulRestart.Time))
	}
	return strings.Join(t, ",")
}

func formatMsg(m wire.Message) string {
	switch m := m.(type) {
	case *wire.Open:
		s := fmt.Sprintf("OPEN as=%d hold=%d id=%s", m.AS, m.HoldTime, m.RouterID)
		if c := formatCaps(&m.Caps); c != "" {
			s += " caps=" + c
		}
		return s
	case *wire.Notification:
		s := fmt.Sprintf("NOTIFICATION %d/%d %s", m.Code, m.Subcode, m)
		if msg, ok := m.ShutdownMessage(); ok {
			s += fmt.Sprintf(" msg=%q", msg)
		} else if len(m.Data) > 0 {
			s += " data=" + hex.EncodeToString(m.Data)
		}
		return s
	}
	return m.Type().String()
}

func formatAction(a Action) string {
	switch a := a.(type) {
	case Connect:
		return "connect"
	case AbortConnect:
		return "abort-connect"
	case Send:
		return "send " + formatMsg(a.Msg)
	case CloseConnection:
		return "close"
	case Established:
		return "established " + a.Session.String()
	case Down:
		s := fmt.Sprintf("down reason=%q", a.Reason)
		if a.Sent != nil {
			s += " sent=" + a.Sent.String()
		}
		if a.Received != nil {
			s += " received=" + a.Received.String()
		}
		if a.WasEstablished {
			s += " was-established"
		}
		return s
	case DeliverUpdate:
		var reach, unreach int
		a.Update.Reachable(func(wire.Family, wire.NLRI) { reach++ })
		a.Update.Unreachable(func(wire.Family, wire.NLRI) { unreach++ })
		s := fmt.Sprintf("deliver-update nlri=%d withdrawn=%d", reach, unreach)
		if a.TreatAsWithdraw {
			s += " treat-as-withdraw"
		}
		return s
	case DeliverRouteRefresh:
		return fmt.Sprintf("deliver-route-refresh %s subtype=%d", a.Refresh.Family, a.Refresh.Subtype)
	}
	return fmt.Sprintf("%T", a)
}

func formatTimers(s *Session) string {
	var t []string
	for _, x := range []struct {
		name string
		at   time.Time
	}{{"connect-retry", s.connectRetry}, {"hold", s.hold}, {"keepalive", s.keepalive}, {"idle-hold", s.idleHold}} {
		if !x.at.IsZero() {
			t = append(t, fmt.Sprintf("%s@%v", x.name, x.at.Sub(epoch)))
		}
	}
	if len(t) == 0 {
		return "timers: none\n"
	}
	if nd := s.NextDeadline(); !nd.IsZero() {
		return fmt.Sprintf("timers: %s (next %v)\n", strings.Join(t, " "), nd.Sub(epoch))
	}
	return "timers: " + strings.Join(t, " ") + "\n"
}

func formatStatus(st Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "state=%s peer-as=%d peer-id=%s\n", st.State, st.PeerAS, st.PeerID)
	if !st.EstablishedAt.IsZero() {
		fmt.Fprintf(&b, "established-at=%v\n", st.EstablishedAt.Sub(epoch))
	}
	fmt.Fprintf(&b, "established=%d flaps=%d failures=%d idle-hold=%vs\n", st.Established, st.Flaps, st.ConsecutiveFailures, st.IdleHoldSeconds)
	fmt.Fprintf(&b, "in: open=%d update=%d notification=%d keepalive=%d route-refresh=%d malformed=%d\n",
		st.MessagesIn.Open, st.MessagesIn.Update, st.MessagesIn.Notification, st.MessagesIn.Keepalive, st.MessagesIn.RouteRefresh, st.MessagesIn.Malformed)
	fmt.Fprintf(&b, "out: open=%d update=%d notification=%d keepalive=%d route-refresh=%d\n",
		st.MessagesOut.Open, st.MessagesOut.Update, st.MessagesOut.Notification, st.MessagesOut.Keepalive, st.MessagesOut.RouteRefresh)
	if st.LastSent != nil {
		fmt.Fprintf(&b, "last-sent=%s", st.LastSent.Name)
		if st.LastSent.Message != "" {
			fmt.Fprintf(&b, " msg=%q", st.LastSent.Message)
		}
		b.WriteByte('\n')
	}
	if st.LastReceived != nil {
		fmt.Fprintf(&b, "last-received=%s", st.LastReceived.Name)
		if st.LastReceived.Message != "" {
			fmt.Fprintf(&b, " msg=%q", st.LastReceived.Message)
		}
		b.WriteByte('\n')
	}
	if st.LastDown != "" {
		fmt.Fprintf(&b, "last-down=%q at %v\n", st.LastDown, st.LastDownAt.Sub(epoch))
	}
	if st.Ignored > 0 || st.UpdateErrors > 0 {
		fmt.Fprintf(&b, "ignored=%d update-errors=%d last-update-error=%q\n", st.Ignored, st.UpdateErrors, st.LastUpdateError)
	}
	return b.String()
}
