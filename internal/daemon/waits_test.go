package daemon

import (
	"fmt"
	"testing"
	"time"
)

// Bounded waits shared by the tests. A bound is a failure detector, not a
// speed assertion: it is generous for a loaded machine (-race on 2 cores,
// other packages' tests running beside).

// pollUntil retries cond every interval until it holds, and fails with
// cond's last report once limit has passed. cond gets one last try after
// the deadline: a sleep a loaded machine stretches past it must not turn a
// condition that came true during it into a failure.
func pollUntil(tb testing.TB, what string, interval, limit time.Duration, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s; last: %s", limit, what, last)
		}
		time.Sleep(interval)
	}
}

// waitFor polls cond every 20 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	pollUntil(t, what, 20*time.Millisecond, 30*time.Second, cond)
}

// pollFor polls cond every 20 ms for up to limit.
func pollFor(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	pollUntil(t, what, 20*time.Millisecond, limit, cond)
}

// pollEvery retries cond every interval for up to 30 s.
func pollEvery(tb testing.TB, interval time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	pollUntil(tb, what, interval, 30*time.Second, cond)
}

// poll retries cond every 200 ms for up to 30 s.
func poll(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	pollUntil(t, what, 200*time.Millisecond, 30*time.Second, cond)
}

// pollFast retries cond every 20 ms for up to 30 s.
func pollFast(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	pollUntil(t, what, 20*time.Millisecond, 30*time.Second, cond)
}

// waitSettled waits until a (whose neighbor is addrB) and b (whose
// neighbor is addrA) are Established on one and the same TCP connection and
// returns both views. Before that, a connection collision (both dial at
// start) may still reset a session that one side already calls
// Established; after it none can (RFC 4271 6.8: an Established session
// keeps its connection), so the Resets counts are a baseline.
func waitSettled(t *testing.T, a, b *running, addrB, addrA string) (na, nb NeighborStatus) {
	t.Helper()
	waitFor(t, "both Established on one connection", func() (bool, string) {
		na, nb = neighbor(t, a.d, addrB), neighbor(t, b.d, addrA)
		return na.State == "Established" && nb.State == "Established" && na.Local == nb.Remote && na.Remote == nb.Local,
			fmt.Sprintf("a %s %s-%s, b %s %s-%s", na.State, na.Local, na.Remote, nb.State, nb.Local, nb.Remote)
	})
	return na, nb
}
