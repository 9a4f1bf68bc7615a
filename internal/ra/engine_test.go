package ra

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

var epoch = time.Unix(1_000_000_000, 0)

// TestScenarios runs testdata/scenarios on a fake clock. Commands:
//
//	add if=NAME [down]          start on an interface
//	link if=NAME up|down
//	remove if=NAME
//	recv if=NAME src=ADDR type=ra|rs|bad [hops=N] [lladdr]
//	advance DURATION            move the clock and tick
//	peer if=NAME
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		e := New(Config{})
		now := epoch
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			var out strings.Builder
			print := func(acts []Action) {
				for _, a := range acts {
					switch a := a.(type) {
					case Send:
						m, err := Parse(a.Packet)
						if err != nil {
							fmt.Fprintf(&out, "send %s to %s: unparseable: %v\n", a.Ifname, a.Dst, err)
							continue
						}
						kind := map[uint8]string{TypeRouterAdvertisement: "ra", TypeRouterSolicitation: "rs"}[m.Type]
						fmt.Fprintf(&out, "%v send %s %s to %s lifetime=%d lladdr=%s\n", now.Sub(epoch), a.Ifname, kind, a.Dst, m.Lifetime, m.SourceLinkLayer)
					case Learned:
						fmt.Fprintf(&out, "%v learned %s %s\n", now.Sub(epoch), a.Ifname, a.Addr)
					case Lost:
						fmt.Fprintf(&out, "%v lost %s %s\n", now.Sub(epoch), a.Ifname, a.Addr)
					}
				}
			}
			ifname := ""
			if d.HasArg("if") {
				d.ScanArgs(t, "if", &ifname)
			}
			switch d.Cmd {
			case "add":
				hw, _ := net.ParseMAC("02:00:00:00:00:01")
				print(e.Add(now, ifname, hw, !d.HasArg("down")))
			case "link":
				print(e.Link(now, ifname, d.HasArg("up")))
			case "remove":
				print(e.Remove(ifname))
			case "recv":
				var src, typ string
				d.ScanArgs(t, "src", &src)
				d.ScanArgs(t, "type", &typ)
				hops := HopLimit
				if d.HasArg("hops") {
					d.ScanArgs(t, "hops", &hops)
				}
				var m Message
				switch typ {
				case "ra":
					m.Type = TypeRouterAdvertisement
				case "rs":
					m.Type = TypeRouterSolicitation
				}
				if d.HasArg("lladdr") {
					m.SourceLinkLayer = net.HardwareAddr{2, 0, 0, 0, 0, 2}
				}
				b := m.Marshal()
				if typ == "bad" {
					b = []byte{TypeRouterAdvertisement, 0, 0, 0}
				}
				print(e.Receive(now, ifname, netip.MustParseAddr(src), hops, b))
				s := e.Stats()
				fmt.Fprintf(&out, "stats ra=%d rs=%d dropped=%d\n", s.Advertisements, s.Solicitations, s.Dropped)
			case "advance":
				dur, err := time.ParseDuration(d.CmdArgs[0].Key)
				if err != nil {
					t.Fatal(err)
				}
				end := now.Add(dur)
				for range 10000 {
					next := e.NextDeadline()
					if next.IsZero() || next.After(end) {
						break
					}
					now = next
					print(e.Tick(now))
				}
				now = end
			case "peer":
				fmt.Fprintf(&out, "%v\n", e.Peer(ifname))
			default:
				t.Fatalf("unknown command %s", d.Cmd)
			}
			if out.Len() == 0 {
				return "ok\n"
			}
			return out.String()
		})
	})
}

func TestParseRoundTrip(t *testing.T) {
	hw := net.HardwareAddr{2, 0, 0, 0, 0, 9}
	for _, m := range []Message{
		{Type: TypeRouterAdvertisement, CurHopLimit: 64, Managed: true, Lifetime: 1800, ReachableTime: 30000, RetransTimer: 1000, SourceLinkLayer: hw},
		{Type: TypeRouterAdvertisement},
		{Type: TypeRouterSolicitation, SourceLinkLayer: hw},
		{Type: TypeRouterSolicitation},
	} {
		got, err := Parse(m.Marshal())
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(m) {
			t.Errorf("round trip: got %+v, want %+v", got, m)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"short":      {134, 0, 0},
		"code":       {134, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"short ra":   {134, 0, 0, 0, 0, 0, 0, 0},
		"not rd":     {128, 0, 0, 0, 0, 0, 0, 0},
		"zero opt":   {133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0},
		"long opt":   {133, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0},
		"opt header": {133, 0, 0, 0, 0, 0, 0, 0, 1},
	} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: accepted %x", name, b)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Message{Type: TypeRouterAdvertisement, SourceLinkLayer: net.HardwareAddr{2, 0, 0, 0, 0, 1}}.Marshal())
	f.Add(Message{Type: TypeRouterSolicitation}.Marshal())
	f.Add([]byte{134, 0, 0, 0, 64, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1, 5, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		// What parsed encodes to something that parses the same.
		m2, err := Parse(m.Marshal())
		if err != nil {
			t.Fatalf("re-parse of %+v: %v", m, err)
		}
		if fmt.Sprint(m) != fmt.Sprint(m2) {
			t.Fatalf("re-parse: %+v != %+v", m2, m)
		}
		e := New(Config{})
		e.Add(epoch, "x", nil, true)
		e.Receive(epoch, "x", netip.MustParseAddr("fe80::1"), HopLimit, b)
	})
}

func TestMemNetwork(t *testing.T) {
	n := NewMemNetwork()
	a := n.Conn(map[string]netip.Addr{"a0": netip.MustParseAddr("fe80::a")})
	b := n.Conn(map[string]netip.Addr{"b0": netip.MustParseAddr("fe80::b")})
	n.Link(a, "a0", b, "b0")
	if err := a.WriteTo([]byte{1, 2}, "a0", AllNodes); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	k, ifn, src, hops, err := b.ReadFrom(buf)
	if err != nil || k != 2 || ifn != "b0" || src != netip.MustParseAddr("fe80::a") || hops != HopLimit {
		t.Fatalf("got %d %s %s %d %v", k, ifn, src, hops, err)
	}
	b.Close()
	if _, _, _, _, err := b.ReadFrom(buf); err != ErrClosed {
		t.Fatalf("read after close: %v", err)
	}
}
