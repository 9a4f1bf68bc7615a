package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/daemon"
)

// startHost runs a closd host engine whose one service is checked by a TCP
// connect to a listener the test holds, with the addresses on a fake
// loopback, and its API on a temp socket.
func startHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cfg, err := config.Parse("host.yaml", []byte(fmt.Sprintf(`
router-id: 10.0.0.21
asn: 65101
role: host
listen: {address: 127.0.0.1, port: %d}
services:
  - name: dns
    addresses: [10.255.0.53/32]
    check: {kind: tcp, address: "%s"}
    interval: 50ms
    timeout: 40ms
    rise: 1
drain: {graceful-shutdown: true, prepend: 1, time: 300ms}
`, freePort(t, "127.0.0.1"), ln.Addr())))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Loopback: daemon.NewFakeLoopback()})
	if err != nil {
		t.Fatal(err)
	}
	return serveAPI(t, "host", d, cfg)
}

func TestDrainAndShowServices(t *testing.T) {
	sock := startHost(t)
	waitFor(t, 10*time.Second, "service never announced:", func() (bool, string) {
		code, out, errs := opsVerb("show", "services", "--socket", sock)
		if code != 0 {
			t.Fatalf("show services: %d %s", code, errs)
		}
		return strings.Contains(out, "up     active") && strings.Contains(out, " yes"), out
	})
	code, out, errs := opsVerb("drain", "--service", "dns", "--socket", sock)
	if code != 0 || !strings.Contains(out, "drained service dns") || !strings.Contains(out, "yes (graceful-shutdown, prepend 1)") {
		t.Fatalf("drain: %d\n%s%s", code, out, errs)
	}
	code, out, errs = opsVerb("drain", "--wait", "--socket", sock, "--json")
	var ans api.DrainAnswer
	if code != 0 || json.Unmarshal([]byte(out), &ans) != nil || len(ans.Services.Services) != 1 || ans.Services.Services[0].Announced || !ans.Services.DrainAll {
		t.Fatalf("drain --wait: %d\n%s%s", code, out, errs)
	}
	code, out, _ = opsVerb("show", "services", "dns", "--socket", sock)
	if code != 0 || !strings.Contains(out, "Node drained") || !strings.Contains(out, "drained ") {
		t.Errorf("show after drain:\n%s", out)
	}
	code, out, errs = opsVerb("undrain", "--socket", sock)
	if code != 0 || !strings.Contains(out, "undrained every service") {
		t.Fatalf("undrain: %d\n%s%s", code, out, errs)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"drain", "--service", "web", "--socket", sock}, 2, `no such service "web"; configured: [dns]`},
		{[]string{"drain", "dns", "--socket", sock}, 2, `unexpected "dns"; name one service with --service NAME`},
		{[]string{"undrain", "--wait", "--socket", sock}, 2, "--wait only applies to drain"},
		{[]string{"show", "services", "web", "--socket", sock}, 1, `no service "web"; configured: dns`},
		{[]string{"drain", "--help"}, 0, "GRACEFUL_SHUTDOWN"},
		{[]string{"drain", "--socket", filepath.Join(t.TempDir(), "x.sock")}, 1, "closd is not running"},
	} {
		code, out, errs := opsVerb(tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("%v: %d %q; want %d with %q", tc.args, code, out+errs, tc.code, tc.want)
		}
	}
}
