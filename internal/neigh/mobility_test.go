package neigh

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestMobilityCommunity(t *testing.T) {
	b := MobilityCommunity(0x01020304, true)
	want := [8]byte{0x06, 0x00, 0x01, 0x00, 0x01, 0x02, 0x03, 0x04}
	if b != want {
		t.Fatalf("got % x, want % x", b, want)
	}
	if v := MobilityCommunityUint64(0x01020304, true); v != 0x0600010001020304 {
		t.Fatalf("uint64 form %#x", v)
	}
	seq, sticky, ok := ParseMobilityCommunity(b)
	if !ok || seq != 0x01020304 || !sticky {
		t.Fatalf("parse: %d %v %v", seq, sticky, ok)
	}
	// Route target (type 0x00 subtype 0x02) is not a mobility community.
	if _, _, ok := ParseMobilityCommunityUint64(0x0002fde800000001); ok {
		t.Fatal("route target parsed as mobility")
	}
	// Reserved flag bits are ignored.
	if seq, sticky, ok := ParseMobilityCommunity([8]byte{6, 0, 0xfe, 0xff, 0, 0, 0, 9}); !ok || sticky || seq != 9 {
		t.Fatalf("reserved bits: %d %v %v", seq, sticky, ok)
	}
}

func FuzzMobilityCommunity(f *testing.F) {
	f.Add(uint64(0x0600010001020304))
	f.Add(uint64(0))
	f.Add(uint64(0x0600000000000007))
	f.Fuzz(func(t *testing.T, v uint64) {
		seq, sticky, ok := ParseMobilityCommunityUint64(v)
		if !ok {
			if v>>48 == 0x0600 {
				t.Fatalf("%#x not parsed", v)
			}
			return
		}
		back := MobilityCommunityUint64(seq, sticky)
		// Only the reserved bits may differ.
		if back != v&^0x0000fe_ff_00000000 {
			t.Fatalf("%#x -> %d,%v -> %#x", v, seq, sticky, back)
		}
	})
}

func TestPreferBySeq(t *testing.T) {
	for _, c := range []struct {
		a, b uint32
		want int
	}{{1, 0, 1}, {0, 1, -1}, {5, 5, 0}, {0xffffffff, 0, 1}} {
		if got := PreferBySeq(c.a, c.b); got != c.want {
			t.Errorf("PreferBySeq(%d,%d)=%d want %d", c.a, c.b, got, c.want)
		}
	}
	if PreferMobility(0, true, 9, false) != 1 || PreferMobility(9, false, 0, true) != -1 || PreferMobility(3, true, 2, true) != 1 {
		t.Error("sticky must win over seq")
	}
}

func TestParseMAC(t *testing.T) {
	m, err := ParseMAC("02:AB:cd:00:01:ff")
	if err != nil || m != (MAC{2, 0xab, 0xcd, 0, 1, 0xff}) || m.String() != "02:ab:cd:00:01:ff" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"", "02:ab", "02:ab:cd:00:01:ff:00", "0g:00:00:00:00:00", "2:00:00:00:00:00"} {
		if _, err := ParseMAC(bad); err == nil {
			t.Errorf("ParseMAC(%q) accepted", bad)
		}
	}
}

func FuzzParseMAC(f *testing.F) {
	f.Add("02:00:00:00:00:01")
	f.Add("aa-bb-cc-dd-ee-ff")
	f.Add("::::::")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMAC(s)
		if err != nil {
			return
		}
		m2, err := ParseMAC(m.String())
		if err != nil || m2 != m {
			t.Fatalf("%q -> %v -> %v %v", s, m, m2, err)
		}
	})
}

func TestValidate(t *testing.T) {
	good := InterfaceConfig{Name: "eth1", Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Interfaces: []InterfaceConfig{{Name: ""}}}, "interfaces[0].name: empty"},
		{Config{Interfaces: []InterfaceConfig{good, good}}, `interfaces[1].name "eth1": listed twice`},
		{Config{Interfaces: []InterfaceConfig{{Name: "eth1"}}}, "eth1 allowed: at least one prefix"},
		{Config{Interfaces: []InterfaceConfig{{Name: "eth1", Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}}}}, "want a masked"},
		{Config{Interfaces: []InterfaceConfig{{Name: "eth1", Allowed: good.Allowed, Static: []StaticBinding{{IP: netip.MustParseAddr("10.9.0.1")}}}}}, "static 10.9.0.1: outside"},
		{Config{ProbeRetries: 1000}, "probe-retries 1000"},
		{Config{AgingTime: -time.Second}, "aging-time"},
		{Config{Gateway: AnycastGateway{IPv4: netip.MustParsePrefix("2001:db8::1/64")}}, "gateway ipv4"},
	} {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", c.cfg, err, c.want)
		}
	}
	if _, err := New(Config{Interfaces: []InterfaceConfig{good}}); err != nil {
		t.Fatal(err)
	}
}

func TestHostsJSON(t *testing.T) {
	e, err := New(Config{Interfaces: []InterfaceConfig{{Name: "eth1", Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0).UTC()
	e.Step(now, NeighEvent{Interface: "eth1", IP: netip.MustParseAddr("10.0.0.5"), MAC: MAC{2, 0, 0, 0, 0, 5}, State: NUDReachable})
	b, err := json.Marshal(e.Hosts(now.Add(3 * time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"ip":"10.0.0.5","prefix":"10.0.0.5/32","interface":"eth1","mac":"02:00:00:00:00:05","state":"active","kernel_state":"reachable","seq":0,"sticky":false,"age_seconds":3,"last_confirmed":"1970-01-01T00:16:40Z","frozen":false,"recent_moves":0}]`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}
