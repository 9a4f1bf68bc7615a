package lab

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/plan"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func TestServeTarget(t *testing.T) {
	for _, kind := range []string{"tcp", "http"} {
		t.Run(kind, func(t *testing.T) {
			addr := freeAddr(t)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- ServeTarget(ctx, kind, addr) }()
			var err error
			for try := 0; try < 50; try++ {
				var c net.Conn
				if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
					c.Close()
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatalf("%s target never accepted: %v", kind, err)
			}
			if kind == "http" {
				resp, err := http.Get("http://" + addr + "/health")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "ok\n" {
					t.Errorf("http target: %d %q", resp.StatusCode, b)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("ServeTarget after cancel: %v", err)
			}
			if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
				c.Close()
				t.Error("target still accepts after it stopped")
			}
		})
	}
	if err := ServeTarget(context.Background(), "dns", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "want tcp or http") {
		t.Errorf("dns target: %v", err)
	}
}

func TestFindTarget(t *testing.T) {
	f := &plan.Fabric{Servers: []plan.FabricHost{
		{Name: "server1", Services: []plan.FabricService{{Name: "dns"}}},
		{Name: "server2"},
	}}
	sv := &services{Targets: []ServiceTarget{{Server: "server1", Service: "dns", Kind: "tcp", Addresses: []netip.Prefix{netip.MustParsePrefix("10.255.0.53/32")}}}}
	if tg, err := findTarget(sv, f, "server1:dns"); err != nil || tg.Service != "dns" {
		t.Errorf("server1:dns = %v, %v", tg, err)
	}
	for what, want := range map[string]string{
		"server1":     "want SERVER:SERVICE",
		"server1:":    "want SERVER:SERVICE",
		"server9:dns": `"server9": no such server`,
		"server1:ntp": `server1 runs no service "ntp"; it runs: dns`,
		"server2:dns": "server2 runs no service (plan with --hosts bgp",
	} {
		_, err := findTarget(sv, f, what)
		var ie *InputError
		if err == nil || !strings.Contains(err.Error(), want) || !asInput(err, &ie) {
			t.Errorf("findTarget(%q) = %v; want input error %q", what, err, want)
		}
	}
	if !served(&ServiceTarget{Kind: "tcp"}) || served(&ServiceTarget{Kind: "exec"}) {
		t.Error("served: the lab runs tcp and http targets only")
	}
	if r := noRedirects(plan.RoleServer); !strings.Contains(strings.Join(r, " "), "accept_redirects=0") {
		t.Errorf("servers: %v", r)
	}
	if r := noRedirects(plan.RoleLeaf); !strings.Contains(strings.Join(r, " "), "send_redirects=0") {
		t.Errorf("switches: %v", r)
	}
}

func asInput(err error, ie **InputError) bool {
	e, ok := err.(*InputError)
	*ie = e
	return ok
}
