package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/daemon"
	"github.com/closnet/clos/internal/neigh"
)

func TestShowHostsAndRelease(t *testing.T) {
	cfg, err := config.Parse("leaf.yaml", []byte(fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
hosts:
  interfaces: [{name: swp3, allowed: [10.1.0.0/24]}]
`, freePort(t, "127.0.0.1"))))
	if err != nil {
		t.Fatal(err)
	}
	w := daemon.NewFakeHostWatcher(8)
	d, err := daemon.New(cfg, daemon.Options{
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		HostKernel: &neigh.FakeKernel{}, HostNet: daemon.NewFakeHostNet(),
		HostWatch: func([]string) (daemon.HostWatcher, error) { return w, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	sock := serveAPI(t, "leaf", d, cfg)
	w.Send(neigh.NeighEvent{Interface: "swp3", IP: netip.MustParseAddr("10.1.0.10"), MAC: neigh.MAC{2, 0, 0, 0, 0, 0x0a}, State: neigh.NUDReachable})

	var out string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var code int
		code, out, _ = runShowT(t, "--socket", sock, "hosts")
		if code == 0 && strings.Contains(out, "10.1.0.10") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"Host routes on swp3; 1 hosts", "10.1.0.10 swp3      02:00:00:00:00:0a active", "Learned 1,"} {
		if !strings.Contains(out, want) {
			t.Errorf("clos show hosts lacks %q:\n%s", want, out)
		}
	}
	if code, js, _ := runShowT(t, "--socket", sock, "hosts", "--json"); code != 0 || !strings.Contains(js, `"interface": "swp3"`) {
		t.Errorf("--json: %d %s", code, js)
	}

	for _, tc := range []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"release", "all", "--socket", sock}, 0, "nothing was frozen (all)"},
		{[]string{"release", "10.1.0.10", "--socket", sock, "--json"}, 0, `"released": []`},
		{[]string{"release", "--socket", sock}, 2, "want: release ADDR|all"},
		{[]string{"release", "10.1.0", "--socket", sock}, 2, `"10.1.0": want a host address`},
		{[]string{"--help"}, 0, "usage: clos hosts release"},
		{[]string{"release", "all", "--socket", filepath.Join(t.TempDir(), "none.sock")}, 1, "closd is not running"},
	} {
		var o, e bytes.Buffer
		if code := run(append([]string{"hosts"}, tc.args...), &o, &e); code != tc.status || !strings.Contains(o.String()+e.String(), tc.want) {
			t.Errorf("clos hosts %v: %d %q, want %d with %q", tc.args, code, o.String()+e.String(), tc.status, tc.want)
		}
	}
}
