package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/testenv"
)

const unitPath = "../../packaging/closd.service"

// parseUnit reads a systemd unit: section -> key -> values in order.
func parseUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	sec := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			sec = line[1 : len(line)-1]
			out[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("%s:%d: not KEY=VALUE in a section: %q", path, n, line)
			}
			out[sec][k] = append(out[sec][k], v)
		}
	}
	return out
}

// TestUnitKeys checks the unit's promises: reload by SIGHUP, the runtime
// directory of the API socket, the capabilities routes and port 179 need,
// and strict sandboxing.
func TestUnitKeys(t *testing.T) {
	u := parseUnit(t, unitPath)
	svc := u["Service"]
	want := map[string]string{
		"ExecStart":             "/usr/sbin/closd --config /etc/closd/closd.yaml",
		"ExecReload":            "/bin/kill -HUP $MAINPID",
		"RuntimeDirectory":      "closd",
		"ProtectSystem":         "strict",
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_NICE",
		"AmbientCapabilities":   "CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_NICE",
		// The BFD child's SCHED_RR (docs/bfd.md).
		"RestrictRealtime": "no",
		"ProtectHome":      "yes",
		"PrivateTmp":       "yes",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s = %q, want %q", k, got, v)
		}
	}
	fams := strings.Fields(strings.Join(svc["RestrictAddressFamilies"], " "))
	for _, f := range []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"} {
		if !strings.Contains(" "+strings.Join(fams, " ")+" ", " "+f+" ") {
			t.Errorf("RestrictAddressFamilies lacks %s (routes need netlink, the API a unix socket)", f)
		}
	}
	if got := u["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("[Install] WantedBy = %q", got)
	}
	// The socket closd makes by default must be inside the runtime
	// directory systemd gives it: ProtectSystem=strict makes the rest of
	// /run read-only.
	if !strings.HasPrefix("/run/closd/closd.sock", "/run/"+svc["RuntimeDirectory"][0]+"/") {
		t.Errorf("api socket outside RuntimeDirectory")
	}
}

// TestUnitVerifies runs systemd-analyze verify on the unit, with closd's
// path pointed at an executable that exists here.
func TestUnitVerifies(t *testing.T) {
	sa := testenv.RequireTool(t, "systemd-analyze")
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to stand in for closd")
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, "closd.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/sbin/closd", truePath)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", unit).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
