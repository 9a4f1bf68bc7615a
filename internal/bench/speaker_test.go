package bench

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/bgp/wire"
)

// TestSpeakersExchangeATable runs a passive speaker (the feeder) and an
// active one standing in for a DUT over loopback TCP: the session comes
// up, the feeder's packed announcements arrive whole with their path, and
// the withdrawals empty the other side's table.
func TestSpeakersExchangeATable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	set, _ := NewPrefixes(3000)
	nh := netip.MustParseAddr("10.0.1.2")
	tab := newTable(set, Expect{ASPath: []uint32{feederAS}, NextHop: nh})

	feeder, err := newSpeaker("feeder", speakerConfig(feederAS, netip.MustParseAddr("10.0.0.2"), dutAS), nil)
	if err != nil {
		t.Fatal(err)
	}
	dutCfg := speakerConfig(dutAS, dutID, feederAS)
	dutCfg.Passive = false
	dut, err := newSpeaker("dut", dutCfg, tab.apply)
	if err != nil {
		t.Fatal(err)
	}
	go feeder.serve(ctx, ln, netip.MustParseAddr("127.0.0.1"))
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(dut.done)
		dut.step(fsm.ManualStart{})
		dut.run(ctx, c, false)
	}()
	defer func() {
		cancel()
		<-feeder.done
		<-dut.done
	}()
	for _, sp := range []*speaker{feeder, dut} {
		if err := sp.waitEstablished(ctx); err != nil {
			t.Fatal(err)
		}
	}
	opts := feeder.options()
	if !opts.AS4 {
		t.Error("4-octet AS not negotiated")
	}
	attrs := &wire.PathAttrs{
		Origin: wire.OriginIGP, HasOrigin: true, HasASPath: true,
		ASPath: wire.ASPath{{Type: wire.ASSequence, ASNs: []uint32{feederAS}}}, NextHop: nh,
	}
	ann, _, err := Announcements(set, attrs, 0, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := feeder.writeRaw(ann); err != nil {
		t.Fatal(err)
	}
	wait := func(what string, cond func(tableState) bool) {
		t.Helper()
		for !cond(tab.state()) {
			if err := dut.err(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %+v", what, tab.state())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	wait("every prefix", func(s tableState) bool { return !s.fullAt.IsZero() })
	if err := tab.state().verify(set.N); err != nil {
		t.Fatal(err)
	}
	wd, _, err := Withdrawals(set, 0, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := feeder.writeRaw(wd); err != nil {
		t.Fatal(err)
	}
	wait("every withdrawal", func(s tableState) bool { return !s.emptyAt.IsZero() })
	if err := feeder.err(); err != nil {
		t.Errorf("feeder: %v", err)
	}
}

func TestSpeakerRejectsOtherPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := newSpeaker("sink", speakerConfig(sinkAS, netip.MustParseAddr("10.0.0.4"), dutAS), nil)
	// It waits for 127.0.0.2; a connection from 127.0.0.1 is closed.
	go sp.serve(ctx, ln, netip.MustParseAddr("127.0.0.2"))
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Errorf("the speaker talked to a stranger: %d bytes, %v", n, err)
	}
	cancel()
	<-sp.done
	if sp.err() == nil {
		t.Error("no error after the context ended without a session")
	}
}
