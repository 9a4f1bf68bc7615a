package neigh

import (
	"net/netip"
	"testing"
	"time"
)

var fuzzAddrs = []netip.Addr{
	netip.MustParseAddr("10.0.1.5"),
	netip.MustParseAddr("10.0.1.6"),
	netip.MustParseAddr("10.0.1.7"),
	netip.MustParseAddr("10.0.1.8"),
	netip.MustParseAddr("10.0.1.1"),  // gateway
	netip.MustParseAddr("10.0.2.5"),  // eth2 only
	netip.MustParseAddr("192.0.2.9"), // nowhere
	netip.MustParseAddr("2001:db8:1::5"),
	netip.MustParseAddr("2001:db8:1::6"),
	netip.MustParseAddr("fe80::5"),
	netip.MustParseAddr("::ffff:10.0.1.5"),
	netip.MustParseAddr("ff02::1"),
	netip.MustParseAddr("0.0.0.0"),
	{},
}

var fuzzIfs = []string{"eth1", "eth2", "eth3", "lo"}

func fuzzConfig() Config {
	return Config{
		AgingTime:     30 * time.Second,
		ProbeInterval: time.Second,
		ProbeRetries:  2,
		MoveLimit:     3,
		MoveWindow:    60 * time.Second,
		FreezeHold:    40 * time.Second,
		Gateway:       AnycastGateway{IPv4: netip.MustParsePrefix("10.0.1.1/24")},
		Interfaces: []InterfaceConfig{
			{Name: "eth1", Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24"), netip.MustParsePrefix("2001:db8:1::/64")}, MaxHosts: 3},
			{Name: "eth2", Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/25"), netip.MustParsePrefix("10.0.2.0/24")}, MaxHosts: 2},
			{Name: "eth3", Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.1.0/24")}, MaxHosts: 4,
				Static: []StaticBinding{{IP: netip.MustParseAddr("10.0.1.5"), MAC: MAC{2, 0, 0, 0, 0, 1}}}},
		},
	}
}

// decodeEvents turns bytes into at most 200 timed events, 5 bytes each.
func decodeEvents(data []byte) ([]time.Duration, []Event) {
	var ts []time.Duration
	var evs []Event
	var at time.Duration
	for len(data) >= 5 && len(evs) < 200 {
		b := data[:5]
		data = data[5:]
		at += time.Duration(b[4]) * 250 * time.Millisecond
		ip := fuzzAddrs[int(b[1]>>4)%len(fuzzAddrs)]
		var ev Event
		switch b[0] % 8 {
		case 0, 1, 2:
			ev = NeighEvent{
				Interface: fuzzIfs[int(b[1]&3)],
				IP:        ip,
				MAC:       MAC{2, 0, 0, 0, 0, b[2] % 3},
				State:     NUDState(b[3] % 11),
			}
		case 3:
			bits := ip.BitLen()
			if b[2]&1 == 1 && bits > 0 {
				bits--
			}
			var p netip.Prefix
			if ip.IsValid() {
				p = netip.PrefixFrom(ip, bits)
			}
			ev = RemoteRoute{Prefix: p, Seq: uint32(b[3]) | uint32(b[2]>>7)<<31 | uint32(b[2]>>6&1)*0x7fffffff, Sticky: b[2]&2 != 0}
		case 4:
			var p netip.Prefix
			if ip.IsValid() {
				p = netip.PrefixFrom(ip, ip.BitLen())
			}
			ev = RemoteWithdraw{Prefix: p}
		case 5:
			ev = LinkEvent{Interface: fuzzIfs[int(b[1]&3)], Up: b[2]&1 == 1}
		case 6:
			ev = AdminRelease{IP: ip}
		default:
			ev = Tick{}
		}
		ts = append(ts, at)
		evs = append(evs, ev)
	}
	return ts, evs
}

func FuzzEvents(f *testing.F) {
	f.Add([]byte{0, 0x00, 1, 2, 0, 3, 0x00, 0, 5, 4, 0, 0x00, 1, 2, 0})
	f.Add([]byte{0, 0x10, 1, 3, 1, 0, 0x11, 2, 2, 1, 7, 0, 0, 0, 200, 7, 0, 0, 0, 200})
	f.Add([]byte{0, 0x01, 1, 2, 0, 0, 0x02, 1, 2, 8, 0, 0x03, 1, 2, 8, 5, 0x01, 0, 0, 1})
	f.Add([]byte{0, 0x70, 1, 8, 0, 0, 0x90, 1, 2, 0, 0, 0xa0, 1, 2, 0, 0, 0x40, 1, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := fuzzConfig()
		if len(data) > 0 && data[0]&0x80 != 0 {
			cfg.Multihomed = true
		}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		allowed := map[string][]netip.Prefix{}
		for _, ic := range cfg.Interfaces {
			allowed[ic.Name] = ic.Allowed
		}
		epoch := time.Unix(1_700_000_000, 0)
		originated := map[netip.Prefix]uint32{}
		ts, evs := decodeEvents(data)
		for i, ev := range evs {
			now := epoch.Add(ts[i])
			for _, a := range e.Step(now, ev) {
				switch a := a.(type) {
				case Originate:
					if a.Prefix.Bits() != a.Prefix.Addr().BitLen() {
						t.Fatalf("event %d %#v: originate %v is not a host route", i, ev, a.Prefix)
					}
					if !inAny(allowed[a.Interface], a.Prefix.Addr()) || !a.Prefix.Addr().IsGlobalUnicast() {
						t.Fatalf("event %d %#v: originate %v on %s outside the allowed prefixes", i, ev, a.Prefix, a.Interface)
					}
					if a.Prefix.Addr() == cfg.Gateway.IPv4.Addr() {
						t.Fatalf("event %d: originated the gateway address", i)
					}
					if old, ok := originated[a.Prefix]; ok && a.Seq < old {
						t.Fatalf("event %d: seq of %v went down %d -> %d", i, a.Prefix, old, a.Seq)
					}
					originated[a.Prefix] = a.Seq
				case Withdraw:
					if _, ok := originated[a.Prefix]; !ok {
						t.Fatalf("event %d: withdraw of %v never originated", i, a.Prefix)
					}
					delete(originated, a.Prefix)
				case Probe:
					if a.Attempt < 1 || a.Attempt > cfg.ProbeRetries {
						t.Fatalf("event %d: probe attempt %d", i, a.Attempt)
					}
				}
			}
			if err := e.checkInvariants(); err != nil {
				t.Fatalf("event %d %#v: %v", i, ev, err)
			}
			if dl, ok := e.NextDeadline(); ok && !dl.After(now) {
				t.Fatalf("event %d: deadline %v not after now %v: a due timer did not fire", i, dl, now)
			}
			hosts := e.Hosts(now)
			if len(hosts) != len(originated) {
				t.Fatalf("event %d: %d hosts held, %d routes originated", i, len(hosts), len(originated))
			}
			for _, h := range hosts {
				if _, ok := originated[h.Prefix]; !ok {
					t.Fatalf("event %d: host %v held but not originated", i, h.IP)
				}
			}
		}
	})
}
