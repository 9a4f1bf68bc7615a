package daemon

import (
	"testing"
	"time"
)

// TestGRNotificationOff: graceful-restart.notification false leaves the N
// bit (RFC 8538) out of the OPEN, as FRR's `no bgp graceful-restart
// notification` does; by default it is in.
func TestGRNotificationOff(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{
		{"graceful-restart: {mode: helper}", true},
		{"graceful-restart: {mode: helper, notification: false}", false},
	} {
		peer := newRawPeer(t, "127.0.0.8")
		cfg := grConfig(t, tc.body, grPeer{"127.0.0.8", peer.port()})
		r := start(t, "gr", cfg, Options{ConnectRetry: time.Second})
		g := peer.accept().Caps.GracefulRestart
		if g == nil || g.Notification != tc.want {
			t.Errorf("%s: capability %+v, want N %v", tc.body, g, tc.want)
		}
		r.stop(t)
	}
}
