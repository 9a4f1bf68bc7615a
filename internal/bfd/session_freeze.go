package bfd

import "time"

// frozen takes a freeze of the host out of the detection time: a deadline
// that fell after the freeze began moves by the freeze's length, but no
// further than one detection time from now, and only once per received
// packet, so that a peer that really went silent is still declared Down
// within twice the detection time however often the host stalls.
func (s *Session) frozen(now, since, until time.Time) {
	if s.detectDeadline.IsZero() || s.thawed || !until.After(since) || !s.detectDeadline.After(since) {
		return
	}
	d := s.detectDeadline.Add(until.Sub(since))
	if limit := now.Add(s.detectTime()); d.After(limit) {
		d = limit
	}
	if d.After(s.detectDeadline) {
		s.detectDeadline = d
		s.thawed = true
	}
}
