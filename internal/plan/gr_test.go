package plan

import "testing"

// TestClosdGRNotificationFollowsBFD: a fabric without BFD gets closd
// configs that leave the RFC 8538 N bit out, so a hold expiry (the only
// way a silent failure is seen then) removes the peer's routes instead of
// keeping them for the restart time; with BFD the default stays.
func TestClosdGRNotificationFollowsBFD(t *testing.T) {
	for _, bfd := range []bool{true, false} {
		in := preset(t, "seed-003")
		in.BFD.Enabled = &bfd
		p := mustBuild(t, in)
		for _, n := range p.Switches {
			g := p.Closd(n).GracefulRestart
			off := g != nil && g.Notification != nil && !*g.Notification
			if off == bfd {
				t.Errorf("bfd %v: %s's graceful-restart %+v", bfd, n.Name, g)
			}
		}
	}
}
