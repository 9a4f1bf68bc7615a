package anycast

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv/ddtest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestNormalizeDefaults(t *testing.T) {
	in := Config{Services: []Service{
		{Name: "dns", Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.53/32")}, Check: CheckSpec{Kind: CheckDNS, Address: "127.0.0.1:53", Name: "example.com"}},
		{Name: "web", Addresses: []netip.Prefix{netip.MustParsePrefix("2001:db8::80/128")}, Check: CheckSpec{Kind: CheckHTTP, URL: "http://127.0.0.1/health"}, Interval: 300 * time.Millisecond},
	}}
	got := Normalize(in)
	if err := Validate(got); err != nil {
		t.Fatal(err)
	}
	dns, web := got.Services[0], got.Services[1]
	if dns.Interval != time.Second || dns.Timeout != time.Second || dns.Rise != 2 || dns.Fall != 3 || dns.Check.QType != "A" {
		t.Errorf("dns defaults: %+v", dns)
	}
	// The default timeout never exceeds a shorter interval.
	if web.Timeout != 300*time.Millisecond || web.Check.ExpectStatus != 200 {
		t.Errorf("web defaults: %+v", web)
	}
	if got.Drain != DefaultDrain || got.History != DefaultHistory {
		t.Errorf("config defaults: %+v", got)
	}
	// Normalize copies: changing its output leaves the input alone.
	got.Services[0].Addresses[0] = netip.MustParsePrefix("192.0.2.1/32")
	if in.Services[0].Addresses[0] != netip.MustParsePrefix("192.0.2.53/32") {
		t.Error("Normalize shares the address slice with its input")
	}
}

func TestValidateErrors(t *testing.T) {
	base := func() Config {
		return Normalize(Config{Services: []Service{{
			Name:      "dns",
			Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.53/32")},
			Check:     CheckSpec{Kind: CheckExec, Command: []string{"/bin/true"}},
		}}})
	}
	cases := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Services[0].Name = "" }, "services[0].name: empty"},
		{func(c *Config) { c.Services[0].Name = "dns resolver" }, `services[0].name: "dns resolver"; want`},
		{func(c *Config) {
			c.Services[0].Check = CheckSpec{Kind: CheckDNS, Address: "localhost:53", Name: "example.com", QType: "A"}
		}, "not a host name"},
		{func(c *Config) { c.Services[0].Addresses = nil }, `service "dns": addresses: empty`},
		{func(c *Config) { c.Services[0].Addresses[0] = netip.Prefix{} }, "addresses[0]: not a valid prefix"},
		{func(c *Config) { c.Services[0].Addresses[0] = netip.MustParsePrefix("2001:db8::/64") }, "want /128"},
		{func(c *Config) { c.Services[0].Addresses[0] = netip.MustParsePrefix("::ffff:192.0.2.1/128") }, "4-in-6"},
		{func(c *Config) { c.Services[0].Interval = -1 }, "interval: -1ns"},
		{func(c *Config) { c.Services[0].Timeout = 0 }, "timeout: 0s"},
		{func(c *Config) { c.Services[0].Fall = 0 }, "fall: 0"},
		{func(c *Config) { c.Services[0].Check.Command = nil }, "check.command: empty"},
		{func(c *Config) { c.Services[0].Check = CheckSpec{Kind: CheckTCP, Address: "127.0.0.1:0"} }, "check.address"},
		{func(c *Config) { c.Services[0].Check = CheckSpec{Kind: CheckHTTP, URL: "ftp://x/", ExpectStatus: 200} }, "check.url"},
		{func(c *Config) { c.Services[0].Check = CheckSpec{Kind: CheckHTTP, URL: "http://x/", ExpectStatus: 42} }, "check.expect_status"},
		{func(c *Config) {
			c.Services[0].Check = CheckSpec{Kind: CheckDNS, Address: "127.0.0.1:53", Name: strings.Repeat("a", 64) + ".com", QType: "A"}
		}, "check.name"},
		{func(c *Config) {
			c.Services[0].Check = CheckSpec{Kind: CheckDNS, Address: "127.0.0.1:53", Name: "example.com", QType: "MX"}
		}, "check.qtype"},
		{func(c *Config) { c.Drain.Time = -time.Second }, "anycast: drain.time"},
		{func(c *Config) { c.History = 5000 }, "history"},
	}
	for _, c := range cases {
		cfg := base()
		c.mod(&cfg)
		err := Validate(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
	if err := Validate(base()); err != nil {
		t.Errorf("base config: %v", err)
	}
}

func TestStatusJSON(t *testing.T) {
	e, err := New(Config{Services: []Service{{
		Name:      "dns",
		Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.53/32"), netip.MustParsePrefix("2001:db8::53/128")},
		Check:     CheckSpec{Kind: CheckTCP, Address: "127.0.0.1:53"},
		Rise:      1,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	acts := e.Step(ddtest.Epoch, Tick{})
	rc := acts[0].(RunCheck)
	e.Step(ddtest.Epoch.Add(time.Millisecond), CheckResult{Service: "dns", ID: rc.ID, OK: true, Detail: "connected", Duration: time.Millisecond})
	b, err := json.Marshal(e.Services())
	if err != nil {
		t.Fatal(err)
	}
	var back []ServiceStatus
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e.Services(), back, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	for _, key := range []string{`"health":"up"`, `"announced":true`, `"addresses":["192.0.2.53/32","2001:db8::53/128"]`, `"detail":"connected"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
}
