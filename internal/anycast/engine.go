package anycast

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Engine judges the health of every configured service and decides what to
// announce. It is not safe for concurrent use; the daemon's loop owns it.
type Engine struct {
	cfg      Config
	order    []string
	list     []*service // the services in config order, for scans without map lookups
	svcs     map[string]*service
	started  bool
	drainAll bool
	nextID   uint64
	last     time.Time
}

type service struct {
	cfg   Service
	drain DrainSpec

	health Health
	admin  Admin
	// passes counts consecutive passes since the last failure or the last
	// time the service stopped being announced, so a service that was
	// withdrawn for any reason needs rise fresh passes to come back.
	passes int
	fails  int

	inflight   bool
	inflightID uint64
	lastStart  time.Time
	deadline   time.Time
	nextCheck  time.Time // zero: due at once
	drainUntil time.Time

	announced map[netip.Prefix]Announce

	reason  string
	since   time.Time
	shown   stateKey
	history []ResultRecord
}

type stateKey struct {
	health    Health
	admin     Admin
	announced bool
}

// New returns an engine for cfg, which it normalizes and validates. Every
// service starts down; the first Step (a Tick will do) starts their checks.
func New(cfg Config) (*Engine, error) {
	cfg = Normalize(cfg)
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	e := &Engine{svcs: map[string]*service{}}
	e.install(time.Time{}, cfg, nil)
	return e, nil
}

// Step feeds one event at time now and returns what the daemon must do. A
// now earlier than a previous one is taken as the previous one, so a clock
// step backwards cannot undo deadlines.
func (e *Engine) Step(now time.Time, ev Event) []Action {
	if now.Before(e.last) {
		now = e.last
	}
	e.last = now
	if !e.started {
		e.started = true
		for _, s := range e.list {
			// Services made by New have no start time until the first Step.
			if s.since.IsZero() {
				s.since = now
			}
		}
	}
	var out []Action
	// Deadlines first: a result that arrives at or after its deadline is a
	// timeout, whatever it says.
	out = e.expire(now, out)
	switch ev := ev.(type) {
	case CheckResult:
		out = e.result(now, ev, out)
	case Tick:
	case Drain:
		out = e.drain(now, ev, out)
	case Undrain:
		out = e.undrain(now, ev, out)
	case ConfigChange:
		// An invalid config is ignored here; Reconfigure reports why.
		acts, err := e.Reconfigure(now, ev.Config)
		if err == nil {
			out = append(out, acts...)
		}
	}
	out = e.advance(now, out)
	return out
}

// Reconfigure is ConfigChange with the validation error returned. On error
// nothing changes.
func (e *Engine) Reconfigure(now time.Time, cfg Config) ([]Action, error) {
	cfg = Normalize(cfg)
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	if now.Before(e.last) {
		now = e.last
	}
	e.last = now
	out := e.expire(now, nil)
	out = e.install(now, cfg, out)
	out = e.advance(now, out)
	return out, nil
}

// NextDeadline is when the engine next needs a Step even if nothing happens:
// a check due, a check's deadline, or a drain ending. ok is false when
// nothing is pending. A deadline at or before the last Step's time means
// "step now".
func (e *Engine) NextDeadline() (t time.Time, ok bool) {
	consider := func(x time.Time) {
		if !ok || x.Before(t) {
			t, ok = x, true
		}
	}
	for _, s := range e.list {
		if s.inflight {
			consider(s.deadline)
		} else if s.nextCheck.IsZero() {
			consider(e.last)
		} else {
			consider(s.nextCheck)
		}
		if s.admin == AdminDraining {
			consider(s.drainUntil)
		}
	}
	return t, ok
}

func (e *Engine) effectiveDrain(s Service) DrainSpec {
	if s.Drain != nil {
		return *s.Drain
	}
	return e.cfg.Drain
}

func (e *Engine) install(now time.Time, cfg Config, out []Action) []Action {
	keep := map[string]bool{}
	for _, sc := range cfg.Services {
		keep[sc.Name] = true
	}
	// Removed services go first so their addresses are free before a
	// renamed service announces them.
	for _, name := range e.order {
		if keep[name] {
			continue
		}
		s := e.svcs[name]
		out = e.withdrawAll(s, out)
		out = append(out, StateChange{Service: name, Health: s.health, Admin: s.admin, Reason: "removed from config"})
		delete(e.svcs, name)
	}
	e.cfg = cfg
	e.order = e.order[:0]
	e.list = e.list[:0]
	for _, sc := range cfg.Services {
		e.order = append(e.order, sc.Name)
		s, ok := e.svcs[sc.Name]
		if !ok {
			s = &service{
				health:    HealthDown,
				admin:     AdminActive,
				announced: map[netip.Prefix]Announce{},
				reason:    fmt.Sprintf("starting: needs %d consecutive passes", sc.Rise),
				since:     now,
			}
			s.shown = stateKey{health: HealthDown, admin: AdminActive}
			if e.drainAll {
				s.admin = AdminDrained
				s.reason = "added while all services are drained"
				s.shown.admin = AdminDrained
			}
			s.cfg = sc
			s.drain = e.effectiveDrain(sc)
			e.svcs[sc.Name] = s
			e.list = append(e.list, s)
			continue
		}
		e.list = append(e.list, s)
		old := s.cfg
		s.cfg = sc
		s.drain = e.effectiveDrain(sc)
		if !old.Check.equal(sc.Check) {
			// The old check's verdict in flight says nothing about the new
			// one; drop it and probe the new way at once. Health keeps its
			// hysteresis so a reload does not flap a healthy service.
			s.inflight = false
			s.nextCheck = time.Time{}
		} else if !s.inflight && !s.lastStart.IsZero() && sc.Interval != old.Interval {
			s.nextCheck = s.lastStart.Add(sc.Interval)
		}
		if len(s.history) > cfg.History {
			s.history = slices.Clone(s.history[len(s.history)-cfg.History:])
		}
		switch {
		case s.health == HealthDown && s.passes >= sc.Rise:
			s.health = HealthUp
			s.setReason(now, fmt.Sprintf("%d consecutive passes meet the new rise %d", s.passes, sc.Rise))
		case s.health == HealthUp && s.fails >= sc.Fall:
			s.health = HealthDown
			s.setReason(now, fmt.Sprintf("%d consecutive failures meet the new fall %d", s.fails, sc.Fall))
		}
	}
	for _, s := range e.list {
		out = e.reconcile(now, s, out)
	}
	return out
}

func (s *service) setReason(now time.Time, r string) {
	s.reason = r
	s.since = now
}

func (e *Engine) expire(now time.Time, out []Action) []Action {
	for _, s := range e.list {
		if s.inflight && !now.Before(s.deadline) {
			out = e.record(now, s, ResultRecord{
				ID:       s.inflightID,
				OK:       false,
				Detail:   fmt.Sprintf("no result within timeout %v", s.cfg.Timeout),
				Duration: s.cfg.Timeout,
			}, out)
		}
	}
	return out
}

func (e *Engine) result(now time.Time, r CheckResult, out []Action) []Action {
	s, ok := e.svcs[r.Service]
	if !ok || !s.inflight || s.inflightID != r.ID {
		return out
	}
	return e.record(now, s, ResultRecord{ID: r.ID, OK: r.OK, Detail: r.Detail, Duration: r.Duration}, out)
}

func (e *Engine) record(now time.Time, s *service, rec ResultRecord, out []Action) []Action {
	s.inflight = false
	rec.At = now
	if len(s.history) >= e.cfg.History {
		copy(s.history, s.history[len(s.history)-e.cfg.History+1:])
		s.history = s.history[:e.cfg.History-1]
	}
	s.history = append(s.history, rec)
	if rec.OK {
		s.passes++
		s.fails = 0
		if s.health == HealthDown && s.passes >= s.cfg.Rise {
			s.health = HealthUp
			s.setReason(now, fmt.Sprintf("%d consecutive checks passed (rise %d)", s.passes, s.cfg.Rise))
		} else if s.health == HealthUp && s.passes == s.cfg.Rise && len(s.announced) == 0 && s.admin == AdminActive {
			s.setReason(now, fmt.Sprintf("%d consecutive checks passed since the last withdrawal (rise %d)", s.passes, s.cfg.Rise))
		}
	} else {
		s.fails++
		s.passes = 0
		if s.health == HealthUp && s.fails >= s.cfg.Fall {
			s.health = HealthDown
			s.setReason(now, fmt.Sprintf("%d consecutive checks failed (fall %d), last: %s", s.fails, s.cfg.Fall, rec.Detail))
		} else if s.health == HealthDown && s.fails == 1 {
			s.setReason(now, "check failed: "+rec.Detail)
		}
	}
	return e.reconcile(now, s, out)
}

func (e *Engine) targets(d Drain) []*service {
	if d.All {
		return slices.Clone(e.list)
	}
	if s, ok := e.svcs[d.Service]; ok {
		return []*service{s}
	}
	return nil
}

func (e *Engine) drain(now time.Time, d Drain, out []Action) []Action {
	if d.All {
		e.drainAll = true
	}
	for _, s := range e.targets(d) {
		if s.admin != AdminActive {
			continue
		}
		if len(s.announced) == 0 || s.drain.Time == 0 {
			// Nothing announced means no traffic to move away.
			s.admin = AdminDrained
			s.setReason(now, "drained by operator")
		} else {
			s.admin = AdminDraining
			s.drainUntil = now.Add(s.drain.Time)
			s.setReason(now, fmt.Sprintf("draining by operator, withdraw in %v", s.drain.Time))
		}
		out = e.reconcile(now, s, out)
	}
	return out
}

func (e *Engine) undrain(now time.Time, u Undrain, out []Action) []Action {
	if u.All {
		e.drainAll = false
	}
	for _, s := range e.targets(Drain(u)) {
		if s.admin == AdminActive {
			continue
		}
		s.admin = AdminActive
		s.drainUntil = time.Time{}
		switch {
		case s.health == HealthUp && (len(s.announced) > 0 || s.passes >= s.cfg.Rise):
			s.setReason(now, "undrained by operator")
		case s.health == HealthUp:
			s.setReason(now, fmt.Sprintf("undrained by operator; out until %d consecutive passes since the withdrawal", s.cfg.Rise))
		default:
			s.setReason(now, fmt.Sprintf("undrained by operator; down until %d consecutive passes", s.cfg.Rise))
		}
		out = e.reconcile(now, s, out)
	}
	return out
}

func (e *Engine) advance(now time.Time, out []Action) []Action {
	for _, s := range e.list {
		name := s.cfg.Name
		if s.admin == AdminDraining && !now.Before(s.drainUntil) {
			s.admin = AdminDrained
			s.drainUntil = time.Time{}
			s.setReason(now, "drain time over, withdrawn")
			out = e.reconcile(now, s, out)
		}
		if !s.inflight && !now.Before(s.nextCheck) {
			e.nextID++
			s.inflight = true
			s.inflightID = e.nextID
			s.lastStart = now
			s.deadline = now.Add(s.cfg.Timeout)
			s.nextCheck = now.Add(s.cfg.Interval)
			out = append(out, RunCheck{Service: name, ID: s.inflightID, Check: cloneCheck(s.cfg.Check), Deadline: s.deadline})
		}
	}
	return out
}

func cloneCheck(c CheckSpec) CheckSpec {
	c.Command = slices.Clone(c.Command)
	return c
}

func (e *Engine) withdrawAll(s *service, out []Action) []Action {
	for _, p := range sortedPrefixes(s.announced) {
		out = append(out, Withdraw{Service: s.cfg.Name, Prefix: p})
		delete(s.announced, p)
	}
	s.passes = 0
	return out
}

func sortedPrefixes(m map[netip.Prefix]Announce) []netip.Prefix {
	ps := make([]netip.Prefix, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return ps
}

// reconcile makes the announcements match the service's state and reports a
// state change once per change.
func (e *Engine) reconcile(now time.Time, s *service, out []Action) []Action {
	want := s.health == HealthUp && s.admin != AdminDrained
	if len(s.announced) == 0 {
		// Coming (back) into BGP needs a fresh run of passes, and a service
		// that is leaving does not come back while it leaves.
		want = want && s.admin == AdminActive && s.passes >= s.cfg.Rise
	}
	if !want {
		if len(s.announced) > 0 {
			out = e.withdrawAll(s, out)
		}
	} else {
		a := Announce{Service: s.cfg.Name, LinkBandwidth: float32(float64(s.cfg.Weight) / 8)}
		if s.admin == AdminDraining {
			a.GracefulShutdown = s.drain.GracefulShutdown
			a.Prepend = s.drain.Prepend
		}
		wanted := map[netip.Prefix]bool{}
		for _, p := range s.cfg.Addresses {
			wanted[p] = true
		}
		for _, p := range sortedPrefixes(s.announced) {
			if !wanted[p] {
				out = append(out, Withdraw{Service: s.cfg.Name, Prefix: p})
				delete(s.announced, p)
			}
		}
		for _, p := range s.cfg.Addresses {
			a.Prefix = p
			if cur, ok := s.announced[p]; ok && cur == a {
				continue
			}
			s.announced[p] = a
			out = append(out, a)
		}
	}
	k := stateKey{health: s.health, admin: s.admin, announced: len(s.announced) > 0}
	if k != s.shown {
		s.shown = k
		out = append(out, StateChange{Service: s.cfg.Name, Health: k.health, Admin: k.admin, Announced: k.announced, Reason: s.reason})
	}
	return out
}

// Services returns every service's status in config order.
func (e *Engine) Services() []ServiceStatus {
	out := make([]ServiceStatus, 0, len(e.order))
	for _, n := range e.order {
		st, _ := e.Service(n)
		out = append(out, st)
	}
	return out
}

// Service returns one service's status.
func (e *Engine) Service(name string) (ServiceStatus, bool) {
	s, ok := e.svcs[name]
	if !ok {
		return ServiceStatus{}, false
	}
	st := ServiceStatus{
		Name:       name,
		Addresses:  slices.Clone(s.cfg.Addresses),
		Check:      cloneCheck(s.cfg.Check),
		Health:     s.health,
		Admin:      s.admin,
		Announced:  len(s.announced) > 0,
		Reason:     s.reason,
		Since:      s.since,
		Passes:     s.passes,
		Failures:   s.fails,
		Rise:       s.cfg.Rise,
		Fall:       s.cfg.Fall,
		Interval:   s.cfg.Interval,
		Timeout:    s.cfg.Timeout,
		Weight:     s.cfg.Weight,
		InFlight:   s.inflight,
		DrainUntil: s.drainUntil,
		History:    slices.Clone(s.history),
	}
	if !s.inflight {
		st.NextCheck = s.nextCheck
	}
	return st, true
}
