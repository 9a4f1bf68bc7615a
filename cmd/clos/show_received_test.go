package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/daemon"
)

// TestShowReceivedRoutes: `clos show bgp neighbor X received-routes` lists
// what a neighbor with soft-reconfiguration-inbound sent, the import
// policy's rejects included, as text and JSON; a neighbor without the
// option gets an error that says what to set.
func TestShowReceivedRoutes(t *testing.T) {
	pa, pb := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.2")
	sockA := startDaemon(t, "a", fmt.Sprintf(`
router-id: 10.0.0.1
asn: 65001
listen: {address: 127.0.0.1, port: %d}
bgp: {timers: {keepalive: 1, hold: 3}}
networks: [10.1.0.0/24]
policy:
  prefix-lists:
    - name: none
      entries: [{seq: 10, action: deny, prefix: 0.0.0.0/0, le: 32}]
  route-maps:
    - name: in
      entries: [{seq: 10, action: permit, match: {prefix-list: none}}]
neighbors:
  - address: 127.0.0.2
    remote-as: 65002
    port: %d
    route-map: {in: in}
    soft-reconfiguration-inbound: true
`, pa, pb))
	sockB := startPeerB(t, pb, pa)

	line := regexp.MustCompile(`(?m)^ipv4-unicast\s+10\.2\.0\.0/24\s+127\.0\.0\.2\s+65002 i$`)
	var out string
	waitFor(t, 30*time.Second, "no received route within 30 s;", func() (bool, string) {
		code, o, errs := runShowT(t, "--socket", sockA, "bgp", "neighbor", "127.0.0.2", "received-routes")
		out = o
		return code == 0 && line.MatchString(out), fmt.Sprintf("status %d\nstdout:\n%s\nstderr: %s", code, out, errs)
	})
	if !strings.Contains(out, "Total number of prefixes 1") {
		t.Errorf("received-routes text:\n%s", out)
	}
	code, out, errs := runShowT(t, "--socket", sockA, "bgp", "neighbor", "127.0.0.2", "received-routes", "--json")
	var rr daemon.ReceivedRoutes
	if err := json.Unmarshal([]byte(out), &rr); code != 0 || err != nil || len(rr.Routes) != 1 || rr.Routes[0].Prefix.String() != "10.2.0.0/24" {
		t.Errorf("--json: status %d %v %+v\n%s", code, err, rr, errs)
	}
	// Denied by the import policy: not in the Loc-RIB.
	if code, out, _ := runShowT(t, "--socket", sockA, "bgp", "routes"); code != 0 || strings.Contains(out, "10.2.0.0/24") {
		t.Errorf("10.2.0.0/24 passed the import policy:\n%s", out)
	}
	code, _, errs = runShowT(t, "--socket", sockB, "bgp", "neighbor", "127.0.0.1", "received-routes")
	if code != 1 || !strings.Contains(errs, "soft-reconfiguration-inbound is not set") || !strings.Contains(errs, "HTTP 409") {
		t.Errorf("without the option: status %d: %s", code, errs)
	}
	code, _, errs = runShowT(t, "--socket", sockA, "bgp", "neighbor", "127.0.0.2", "advertised")
	if code == 0 || !strings.Contains(errs, "received-routes") {
		t.Errorf("unknown neighbor subcommand: status %d: %s", code, errs)
	}
}
