package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/testenv"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// TestMetrics scrapes a daemon with a session and routes and checks the
// exposition with promtool.
func TestMetrics(t *testing.T) {
	ca, cb := pairConfigs(t)
	a := start(t, "a", ca, Options{ConnectRetry: time.Second})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second})
	ms, err := ListenMetrics("127.0.0.1:0", a.d)
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close(context.Background())
	url := "http://" + ms.Addr().String() + "/metrics"
	want := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^closd_up 1$`),
		regexp.MustCompile(`(?m)^closd_bgp_session_established\{neighbor="127.0.0.2"\} 1$`),
		regexp.MustCompile(`(?m)^closd_bgp_session_state\{neighbor="127.0.0.2"\} 6$`),
		regexp.MustCompile(`(?m)^closd_bgp_prefixes\{family="ipv4-unicast",kind="accepted",neighbor="127.0.0.2"\} 1$`),
		regexp.MustCompile(`(?m)^closd_bgp_prefixes\{family="ipv4-unicast",kind="advertised",neighbor="127.0.0.2"\} 2$`),
		regexp.MustCompile(`(?m)^closd_bgp_prefixes\{family="ipv4-unicast",kind="received",neighbor="127.0.0.2"\} 1$`),
		regexp.MustCompile(`(?m)^closd_bgp_updates_received_total\{neighbor="127.0.0.2"\} [1-9]`),
		regexp.MustCompile(`(?m)^closd_bgp_updates_sent_total\{neighbor="127.0.0.2"\} [1-9]`),
		regexp.MustCompile(`(?m)^closd_rib_prefixes\{family="ipv4-unicast"\} 3$`),
		regexp.MustCompile(`(?m)^closd_rib_bytes [1-9]`),
		regexp.MustCompile(`(?m)^closd_rib_best_path_changes_total [3-9]`),
		regexp.MustCompile(`(?m)^closd_fib_writes_total [1-9]`),
		regexp.MustCompile(`(?m)^closd_fib_routes 1$`),
		regexp.MustCompile(`(?m)^closd_update_to_fib_seconds_count [1-9]`),
		regexp.MustCompile(`(?m)^closd_update_to_fib_seconds_bucket\{le="\+Inf"\} [1-9]`),
		regexp.MustCompile(`(?m)^go_goroutines `),
	}
	var text string
	waitFor(t, "metrics of an established session with routes", func() (bool, string) {
		text = scrape(t, url)
		for _, re := range want {
			if !re.MatchString(text) {
				return false, "missing " + re.String()
			}
		}
		return true, ""
	})

	// A flap counts.
	if _, err := a.d.ClearNeighbors(context.Background(), b.d.cfg.RouterID, ClearHard); err == nil {
		t.Fatalf("clear of a router-id that is no neighbor did not fail")
	}
	if _, err := b.d.ClearNeighbors(context.Background(), ca.Listen.Address, ClearHard); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a flap counted", func() (bool, string) {
		text = scrape(t, url)
		m := regexp.MustCompile(`(?m)^closd_bgp_session_flaps_total\{neighbor="127.0.0.2"\} ([1-9])`).FindStringSubmatch(text)
		return m != nil, ""
	})

	testenv.RequireTool(t, "promtool")
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		t.Errorf("promtool check metrics has remarks:\n%s", s)
	}
	fmt.Fprint(io.Discard, text)
	a.stop(t)
	b.stop(t)
}
