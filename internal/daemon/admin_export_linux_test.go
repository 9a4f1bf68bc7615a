package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// FRRLab exports the FRR interop lab (two namespaces, FRR's bgpd in one,
// closd built from cmd/closd in the other) to the acceptance tests of
// package daemon_test, which talk to closd through internal/api.
type FRRLab struct {
	l *netLab
	f *frr
	// Socket is closd's API socket, ConfigPath its config file.
	Socket, ConfigPath string
	// Closd is the running closd (its PID is closd's).
	Closd *exec.Cmd
	// Us and Peer are closd's and FRR's addresses on the link.
	UsV4, UsV6, PeerV4, PeerV6 string
}

// StartFRRLab starts FRR (AS 65002, 10.2.0.0/24 and fd00:2::/64) and
// closd (AS 65001, 10.1.0.0/24 and fd00:1::/64) with extra appended to
// closd's config.
func StartFRRLab(t *testing.T, extra string) *FRRLab {
	t.Helper()
	l := newLab(t)
	f := startFRR(t, l, "", false, false)
	cmd := l.runClosd(t, l.closdConfig("", false)+extra)
	return &FRRLab{l: l, f: f, Socket: filepath.Join(l.dir, "closd.sock"), ConfigPath: filepath.Join(l.dir, "closd.yaml"), Closd: cmd,
		UsV4: usV4, UsV6: usV6, PeerV4: peerV4, PeerV6: peerV6}
}

// BaseConfig is closd's config in the lab, without extras.
func (x *FRRLab) BaseConfig() string {
	return x.l.closdConfig("", false) + "api: {socket: " + x.Socket + "}\n"
}

// WriteConfig replaces closd's config file (for a reload).
func (x *FRRLab) WriteConfig(t *testing.T, cfg string) {
	t.Helper()
	if err := os.WriteFile(x.ConfigPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FRR runs a vtysh command with JSON output.
func (x *FRRLab) FRR(cmd string) (map[string]any, string) { return x.f.json(cmd) }

// KernelRoute reports whether closd installed prefix.
func (x *FRRLab) KernelRoute(prefix string) (bool, string) { return x.l.kernelRoute(prefix) }

// Poll retries cond every 200 ms for up to 30 s.
func Poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	poll(t, what, cond)
}
