package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/wire"
	"github.com/closnet/clos/internal/config"
)

func TestAdminShutdownEnableClear(t *testing.T) {
	ca, cb := pairConfigs(t)
	a := start(t, "a", ca, Options{ConnectRetry: time.Second, IdleHoldTime: 100 * time.Millisecond})
	b := start(t, "b", cb, Options{ConnectRetry: time.Second, IdleHoldTime: 100 * time.Millisecond})
	ctx := context.Background()
	bAddr, aAddr := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")
	established := func() {
		t.Helper()
		waitFor(t, "sessions Established", func() (bool, string) {
			na, nb := neighbor(t, a.d, "127.0.0.2"), neighbor(t, b.d, "127.0.0.1")
			return na.State == "Established" && nb.State == "Established", na.State + "/" + nb.State
		})
	}
	na, _ := waitSettled(t, a, b, "127.0.0.2", "127.0.0.1")
	resets := na.Resets

	// Errors first: nothing changes.
	if err := a.d.ShutdownNeighbor(ctx, netip.MustParseAddr("127.0.0.9"), ""); !errors.Is(err, ErrNoNeighbor) {
		t.Errorf("shutdown of an unknown neighbor: %v", err)
	}
	if err := a.d.ShutdownNeighbor(ctx, bAddr, strings.Repeat("x", 256)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "RFC 9003") {
		t.Errorf("256-octet message: %v", err)
	}
	if _, err := a.d.ClearNeighbors(ctx, bAddr, "sideways"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad clear mode: %v", err)
	}

	// Soft clears keep the session.
	for _, m := range []ClearMode{ClearSoftIn, ClearSoftOut, ClearSoft} {
		done, err := a.d.ClearNeighbors(ctx, netip.Addr{}, m)
		if err != nil || len(done) != 1 || done[0] != bAddr {
			t.Fatalf("clear %s: %v %v", m, done, err)
		}
	}
	waitFor(t, "b to see a's refresh", func() (bool, string) {
		nb := neighbor(t, b.d, "127.0.0.1")
		return nb.Session.MessagesIn.RouteRefresh >= 2, fmt.Sprintf("%+v", nb.Session.MessagesIn)
	})
	if na := neighbor(t, a.d, "127.0.0.2"); na.Resets != resets || na.State != "Established" || na.PrefixesAccepted != 1 {
		t.Errorf("after soft clears: %s, %d resets, %d accepted", na.State, na.Resets, na.PrefixesAccepted)
	}
	if nb := neighbor(t, b.d, "127.0.0.1"); nb.PrefixesAccepted != 2 {
		t.Errorf("b lost routes in a soft clear out: %d accepted", nb.PrefixesAccepted)
	}

	// Shutdown with an RFC 9003 message; the session stays down.
	if err := a.d.ShutdownNeighbor(ctx, bAddr, "maintenance until 16:00"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to receive the shutdown communication", func() (bool, string) {
		lr := neighbor(t, b.d, "127.0.0.1").Session.LastReceived
		return lr != nil && lr.Subcode == wire.SubAdminShutdown && lr.Message == "maintenance until 16:00", fmt.Sprintf("%+v", lr)
	})
	time.Sleep(500 * time.Millisecond) // b retries after its idle hold; a must refuse
	if na := neighbor(t, a.d, "127.0.0.2"); na.State != "Idle" || !na.AdminDown || na.ShutdownMessage != "maintenance until 16:00" {
		t.Errorf("a's view after shutdown: %s admin %v %q", na.State, na.AdminDown, na.ShutdownMessage)
	}
	if _, ok := routes(t, a.d)["10.2.0.0/24"]; ok {
		t.Errorf("a kept b's route while b is shut down")
	}
	if err := a.d.EnableNeighbor(ctx, bAddr); err != nil {
		t.Fatal(err)
	}
	established()
	if na := neighbor(t, a.d, "127.0.0.2"); na.AdminDown {
		t.Errorf("still admin down after enable")
	}

	// An operator's shutdown outlives a reload that resets the neighbor.
	if err := a.d.ShutdownNeighbor(ctx, bAddr, "still down"); err != nil {
		t.Fatal(err)
	}
	c2, _ := pairConfigs(t)
	c2.Listen, c2.Neighbors[0].Port = ca.Listen, ca.Neighbors[0].Port
	c2.Neighbors[0].Timers = &config.Timers{Keepalive: 2, Hold: 6}
	if rep, err := a.d.ApplyConfig(ctx, c2); err != nil || len(rep.Reset) != 1 {
		t.Fatalf("reload: %+v %v", rep, err)
	}
	time.Sleep(300 * time.Millisecond)
	if na := neighbor(t, a.d, "127.0.0.2"); na.State != "Idle" || !na.AdminDown || na.ShutdownMessage != "still down" {
		t.Errorf("after a resetting reload: %s admin %v %q", na.State, na.AdminDown, na.ShutdownMessage)
	}
	if err := a.d.EnableNeighbor(ctx, bAddr); err != nil {
		t.Fatal(err)
	}
	established()

	// A hard clear: Cease/Administrative Reset, then back up.
	done, err := b.d.ClearNeighbors(ctx, aAddr, ClearHard)
	if err != nil || len(done) != 1 {
		t.Fatalf("clear hard: %v %v", done, err)
	}
	waitFor(t, "a to receive Administrative Reset", func() (bool, string) {
		lr := neighbor(t, a.d, "127.0.0.2").Session.LastReceived
		return lr != nil && lr.Subcode == wire.SubAdminReset, fmt.Sprintf("%+v", lr)
	})
	established()

	// A neighbor the config shuts down is not enabled by the API.
	cs, _ := pairConfigs(t)
	cs.Neighbors[0].Shutdown = true
	c := start(t, "c", cs, Options{})
	if err := c.d.EnableNeighbor(ctx, bAddr); !errors.Is(err, ErrConflict) {
		t.Errorf("enable of a config shutdown: %v", err)
	}
	c.stop(t)
	a.stop(t)
	b.stop(t)
}
