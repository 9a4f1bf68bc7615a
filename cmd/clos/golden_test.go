package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/daemon"
	"github.com/closnet/clos/internal/fib"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*")

// startDaemonFIB runs a closd engine on loopback with an in-process fake
// kernel (fib.Fake) holding one link, lo0 (index 7), through which every
// next hop resolves, and its API on a socket in a temp dir. It returns the
// socket and the config file's path (for reloads).
func startDaemonFIB(t *testing.T, name, yaml string) (sock, cfgPath string) {
	t.Helper()
	cfgPath = filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("config %s: %v", name, err)
	}
	fake := fib.NewFake()
	fake.SetLink(fib.Link{Index: 7, Name: "lo0", AdminUp: true, OperUp: true})
	fake.SetLink(fib.Link{Index: 8, Name: "swp1", AdminUp: true, OperUp: false})
	d, err := daemon.New(cfg, daemon.Options{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		ConnectRetry: time.Second,
		FIB:          fake,
		ConfigPath:   cfgPath,
		Resolve: func(nh, _ netip.Addr) (fib.Member, error) {
			return fib.Member{Gateway: nh, Ifindex: 7, Ifname: "lo0"}, nil
		},
		InterfaceAddrs: func(i int) []netip.Prefix {
			switch i {
			case 7:
				return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}
			case 8:
				return []netip.Prefix{netip.MustParsePrefix("10.9.0.1/31")}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sock = serveAPI(t, name, d, cfg)
	return sock, cfgPath
}

// volatile masks what changes from run to run: times, message counts,
// ports, and the column widths they cause.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d\d:\d\d:\d\d`), "hh:mm:ss"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT`), "YYYY-MM-DDT"},
	{regexp.MustCompile(`"(uptime_seconds|messages_received|messages_sent|writes)": [0-9.e+-]+`), `"$1": N`},
	{regexp.MustCompile(`kernel writes \d+`), "kernel writes N"},
	{regexp.MustCompile(`(?m)^(127\.0\.0\.\d\s+4\s+\d+)\s+\d+\s+\d+`), "$1 N N"},
	// Neighbor detail: message counts and connection counts follow the
	// keepalive timer and any collision.
	{regexp.MustCompile(`(?m)^(\s+(?:Opens|Notifications|Updates|Keepalives|Route Refresh|Malformed|Total):)\s+\d+\s+\d+$`), "$1 N N"},
	{regexp.MustCompile(`Connections established \d+; dropped \d+`), "Connections established N; dropped N"},
	// Both daemons dial at start: whether a collision happened is timing.
	{regexp.MustCompile(`(?m)^\s+Last notification received: Cease/Connection Collision Resolution.*\n`), ""},
}

// spaces collapses runs of blanks in the summary table, whose column
// widths follow the message counts; other tables keep their alignment.
var spaces = regexp.MustCompile(`[ ]{2,}`)

func normalize(name, s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	if strings.HasPrefix(name, "summary") && strings.HasSuffix(name, ".txt") {
		s = spaces.ReplaceAllString(s, " ")
	}
	return s
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	got = normalize(name, got)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s--- want\n%s", name, got, want)
	}
}

// TestGoldenShowAndAdmin runs two daemons, the first on a fake kernel, and
// compares every show subject (text and JSON) and the admin verbs' output
// with golden files.
func TestGoldenShowAndAdmin(t *testing.T) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	cfgA := fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 1, hold: 3}}
networks: [10.1.0.0/24, 10.1.1.0/24]
aggregates: [{prefix: 10.1.0.0/16, discard: true}]
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    port: %d
    description: to-b
`, pa, pb)
	sockA, pathA := startDaemonFIB(t, "a", cfgA)
	startDaemon(t, "b", fmt.Sprintf(`
router-id: 10.0.0.2
asn: 65002
listen: {address: 127.0.0.2, port: %d}
bgp: {timers: {keepalive: 1, hold: 3}}
networks: [10.2.0.0/24, 10.2.1.0/24]
neighbors:
  - address: 127.0.0.1
    remote-as: 65001
    port: %d
`, pb, pa))
	waitFor(t, 30*time.Second, "a's FIB did not settle with b's routes within 30 s:", func() (bool, string) {
		_, out, _ := opsVerb("show", "--socket", sockA, "fib")
		return strings.Contains(out, "differences 0") && strings.Contains(out, "10.2.1.0/24"), out
	})
	for _, s := range []struct{ name, args string }{
		{"summary", "bgp summary"},
		{"routes", "bgp routes"},
		{"update-groups", "bgp update-groups"},
		{"fib", "fib"},
		{"interfaces", "interfaces"},
	} {
		for _, j := range []bool{false, true} {
			args := append([]string{"show", "--socket", sockA}, strings.Fields(s.args)...)
			name := s.name + ".txt"
			if j {
				args = append(args, "--json")
				name = s.name + ".json"
			}
			code, out, errs := opsVerb(args...)
			if code != 0 {
				t.Fatalf("clos %s: %d %s", strings.Join(args, " "), code, errs)
			}
			checkGolden(t, name, out)
		}
	}

	// Admin verbs.
	admin := func(name string, wantCode int, args ...string) string {
		t.Helper()
		code, out, errs := opsVerb(append(args, "--socket", sockA)...)
		if code != wantCode {
			t.Fatalf("clos %s: status %d, want %d: %s%s", strings.Join(args, " "), code, wantCode, out, errs)
		}
		checkGolden(t, name, out+errs)
		return out
	}
	admin("shutdown.txt", 0, "neighbor", "shutdown", "127.0.0.2", "--message", "maintenance")
	admin("summary-shutdown.txt", 0, "show", "bgp", "summary")
	admin("neighbor-shutdown.txt", 0, "show", "bgp", "neighbor", "127.0.0.2")
	admin("enable.txt", 0, "neighbor", "enable", "127.0.0.2")
	waitFor(t, 30*time.Second, "no session within 30 s of enable:", func() (bool, string) {
		_, out, _ := opsVerb("show", "--socket", sockA, "bgp", "summary")
		return strings.Contains(out, "1 established"), out
	})
	admin("enable-unknown.txt", 1, "neighbor", "enable", "127.0.0.9")
	admin("shutdown-long.txt", 2, "neighbor", "shutdown", "127.0.0.2", "--message", strings.Repeat("x", 256))
	admin("clear-soft.txt", 0, "clear", "bgp", "all", "--soft")

	// Reload: a new network and a dropped aggregate; then a broken file.
	good := strings.Replace(cfgA, "networks: [10.1.0.0/24, 10.1.1.0/24]\naggregates: [{prefix: 10.1.0.0/16, discard: true}]", "networks: [10.1.0.0/24, 10.1.1.0/24, 10.1.2.0/24]", 1)
	if err := os.WriteFile(pathA, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	admin("reload.txt", 0, "reload")
	admin("reload.json", 0, "reload", "--json")
	if err := os.WriteFile(pathA, []byte(strings.Replace(good, "asn: 65001", "asn: 65009", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	admin("reload-refused.txt", 2, "reload")
}
