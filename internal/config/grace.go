package config

import (
	"time"
)

// Graceful restart modes (graceful-restart.mode), in FRR's words.
const (
	// GRRestart: closd keeps its kernel routes across its own restart and
	// says so (RFC 4724 restarting side), and helps restarting peers.
	GRRestart = "restart"
	// GRHelper: closd only helps restarting peers (keeps their routes);
	// its capability lists no family.
	GRHelper = "helper"
	// GROff: no Graceful Restart capability at all.
	GROff = "off"
)

var grModes = []string{GRRestart, GRHelper, GROff}

// Graceful restart defaults (FRR's).
const (
	DefaultGRRestartTime     = 120 * time.Second
	DefaultGRStalepathTime   = 360 * time.Second
	DefaultGRSelectDeferTime = 60 * time.Second
	// MaxGRRestartTime is what the capability's 12-bit field carries.
	MaxGRRestartTime = 4095 * time.Second
)

// GracefulRestart is the top-level graceful-restart: key (RFC 4724).
// Every field may be left out: Mode then depends on whether closd manages
// the kernel FIB (GracefulRestartSettings), the timers take the defaults
// above. A reload changes what sessions established afterwards advertise
// and use; established sessions keep what they negotiated.
type GracefulRestart struct {
	Mode string `yaml:"mode,omitempty"`
	// RestartTime is advertised to peers: how long they keep closd's
	// routes while it restarts.
	RestartTime Duration `yaml:"restart-time,omitempty"`
	// StalepathTime bounds how long a restarted peer's stale paths wait
	// for its End-of-RIB once its session is back (helper side).
	StalepathTime Duration `yaml:"stalepath-time,omitempty"`
	// SelectDeferTime bounds how long a restarting closd waits for every
	// peer's End-of-RIB before it sends its own and sweeps the kernel
	// routes it adopted.
	SelectDeferTime Duration `yaml:"select-defer-time,omitempty"`
	// Notification advertises the N bit (RFC 8538; default true, as FRR
	// does): with it on both sides a NOTIFICATION other than a Hard Reset,
	// and a hold timer expiry, keep the peer's routes for its restart time
	// like a TCP close. false (FRR's `no bgp graceful-restart
	// notification`) removes them at once: in a fabric without BFD a link
	// that fails silently is then left at hold expiry instead of kept.
	Notification *bool `yaml:"notification,omitempty"`
}

// GRSettings are the graceful restart values closd runs with.
type GRSettings struct {
	Mode                                        string
	RestartTime, StalepathTime, SelectDeferTime time.Duration
	Notification                                bool
}

// GracefulRestartSettings resolves the graceful-restart section: the mode
// defaults to restart on a switch whose kernel FIB closd manages (fib) and
// to helper otherwise. A server (role host) defaults to helper: what it
// announces is alive only while closd's health checks run, and a peer
// keeping it through a crash for the restart time would send traffic to
// services nobody checks.
func (c *Config) GracefulRestartSettings(fib bool) GRSettings {
	s := GRSettings{Mode: GRHelper, RestartTime: DefaultGRRestartTime, StalepathTime: DefaultGRStalepathTime, SelectDeferTime: DefaultGRSelectDeferTime, Notification: true}
	if fib && c.Role != "host" {
		s.Mode = GRRestart
	}
	g := c.GracefulRestart
	if g == nil {
		return s
	}
	if g.Mode != "" {
		s.Mode = g.Mode
	}
	if g.RestartTime != 0 {
		s.RestartTime = g.RestartTime.D()
	}
	if g.StalepathTime != 0 {
		s.StalepathTime = g.StalepathTime.D()
	}
	if g.SelectDeferTime != 0 {
		s.SelectDeferTime = g.SelectDeferTime.D()
	}
	if g.Notification != nil {
		s.Notification = *g.Notification
	}
	return s
}

func (v *validator) gracefulRestart() {
	g := v.c.GracefulRestart
	if g == nil {
		return
	}
	if g.Mode != "" && !oneOf(g.Mode, grModes) {
		v.errf("graceful-restart.mode", "%q; valid: restart, helper, off (leave out: restart on a switch whose kernel FIB closd manages, helper otherwise)", g.Mode)
	}
	if g.RestartTime != 0 && (g.RestartTime.D() < time.Second || g.RestartTime.D() > MaxGRRestartTime || g.RestartTime.D()%time.Second != 0) {
		v.errf("graceful-restart.restart-time", "%v; want whole seconds 1s..4095s (the capability carries 12 bits of seconds), or leave out for %v", g.RestartTime.D(), DefaultGRRestartTime)
	}
	v.duration("graceful-restart.stalepath-time", g.StalepathTime, time.Second, time.Hour)
	v.duration("graceful-restart.select-defer-time", g.SelectDeferTime, time.Second, time.Hour)
}
