package bfd

import "time"

// CloseAdminDown tells every peer whose session is Up or Init that it is
// going AdminDown (diag 7, one packet each), then closes like Close. A
// daemon stopping for a graceful restart does this so its peers know the
// forwarding path has not failed (RFC 5882 3.2) and keep their routes.
func (s *Server) CloseAdminDown() error {
	s.do(func() {
		now := time.Now()
		for _, p := range s.peers {
			if st := p.sess.Status().State; st != StateUp && st != StateInit {
				continue
			}
			// Removed: nobody is told about our own state change.
			p.removed = true
			s.apply(p, now, p.sess.Step(now, Event{Kind: EventAdminDown}))
		}
	})
	return s.Close()
}
