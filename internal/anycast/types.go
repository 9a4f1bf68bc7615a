package anycast

import (
	"net/netip"
	"time"
)

// CheckKind names how a service's health is probed.
type CheckKind string

// The check kinds the Runner can execute.
const (
	CheckExec CheckKind = "exec"
	CheckTCP  CheckKind = "tcp"
	CheckHTTP CheckKind = "http"
	CheckDNS  CheckKind = "dns"
)

// CheckSpec says what to probe. Which fields matter depends on Kind:
// exec uses Command, tcp uses Address (host:port), http uses URL and
// ExpectStatus, dns uses Address (server host:port), Name and QType.
type CheckSpec struct {
	Kind         CheckKind `json:"kind"`
	Command      []string  `json:"command,omitempty"`
	Address      string    `json:"address,omitempty"`
	URL          string    `json:"url,omitempty"`
	ExpectStatus int       `json:"expect_status,omitempty"`
	Name         string    `json:"name,omitempty"`
	QType        string    `json:"qtype,omitempty"`
}

func (c CheckSpec) equal(o CheckSpec) bool {
	if c.Kind != o.Kind || c.Address != o.Address || c.URL != o.URL ||
		c.ExpectStatus != o.ExpectStatus || c.Name != o.Name || c.QType != o.QType ||
		len(c.Command) != len(o.Command) {
		return false
	}
	for i := range c.Command {
		if c.Command[i] != o.Command[i] {
			return false
		}
	}
	return true
}

// DrainSpec says how a draining service's addresses are made less preferred
// before they are withdrawn.
type DrainSpec struct {
	// GracefulShutdown tags the announcements with the GRACEFUL_SHUTDOWN
	// community (RFC 8326, 65535:0) so receivers lower their preference.
	GracefulShutdown bool `json:"graceful_shutdown"`
	// Prepend is how many extra times the local AS is prepended while draining,
	// for receivers that do not act on the community.
	Prepend int `json:"prepend"`
	// Time is how long the drained announcements stay up before withdrawal,
	// long enough for traffic to move away without loss.
	Time time.Duration `json:"time"`
}

// Service is one anycast service: the addresses it serves and how its health
// is judged. Zero timing fields take the package defaults (see Defaults).
type Service struct {
	Name      string         `json:"name"`
	Addresses []netip.Prefix `json:"addresses"`
	Check     CheckSpec      `json:"check"`
	Interval  time.Duration  `json:"interval"`
	Timeout   time.Duration  `json:"timeout"`
	Rise      int            `json:"rise"`
	Fall      int            `json:"fall"`
	// Weight is the bandwidth, in bits per second, that this instance carries
	// in the link-bandwidth extended community, so upstream routers can split
	// anycast traffic unequally. Zero leaves the community off.
	Weight uint64 `json:"weight,omitempty"`
	// Drain overrides Config.Drain for this service when non-nil.
	Drain *DrainSpec `json:"drain,omitempty"`
}

// Config is the whole anycast configuration of one host.
type Config struct {
	Services []Service `json:"services"`
	// Drain is the default drain behaviour for every service.
	Drain DrainSpec `json:"drain"`
	// History is how many recent check results each service keeps for
	// `clos show services`.
	History int `json:"history"`
}

// Defaults for fields left zero.
const (
	DefaultInterval  = time.Second
	DefaultTimeout   = time.Second
	DefaultRise      = 2
	DefaultFall      = 3
	DefaultDrainTime = 30 * time.Second
	DefaultHistory   = 10
	// MaxPrepend bounds drain prepending: beyond a few the AS path only grows.
	MaxPrepend = 16
)

// DefaultDrain is the drain behaviour when the config leaves it unset:
// graceful-shutdown community, no prepending, 30 s before withdrawal.
var DefaultDrain = DrainSpec{GracefulShutdown: true, Time: DefaultDrainTime}

// Health is a service's health as judged by rise/fall hysteresis.
type Health string

// Health values.
const (
	HealthDown Health = "down"
	HealthUp   Health = "up"
)

// Admin is the operator's drain state of a service.
type Admin string

// Admin values.
const (
	AdminActive   Admin = "active"
	AdminDraining Admin = "draining"
	AdminDrained  Admin = "drained"
)

// Event is an input to Engine.Step.
type Event interface{ isEvent() }

// CheckResult reports the outcome of a RunCheck. ID must be the RunCheck's ID;
// results for a check the engine no longer waits for (timed out, replaced by
// a config change) are ignored.
type CheckResult struct {
	Service  string
	ID       uint64
	OK       bool
	Detail   string
	Duration time.Duration
}

// Tick only advances time: timeouts, due checks and drain expiry.
type Tick struct{}

// Drain starts draining one service, or every service when All is set
// (services added later while All is in force start drained too).
type Drain struct {
	Service string
	All     bool
}

// Undrain reverses Drain. Undrain{All: true} clears every drain.
type Undrain struct {
	Service string
	All     bool
}

// ConfigChange replaces the configuration. It must have passed Validate;
// the engine ignores a config that does not.
type ConfigChange struct{ Config Config }

func (CheckResult) isEvent()  {}
func (Tick) isEvent()         {}
func (Drain) isEvent()        {}
func (Undrain) isEvent()      {}
func (ConfigChange) isEvent() {}

// Action is an output of Engine.Step for the daemon to carry out.
type Action interface{ isAction() }

// RunCheck asks the loop to run one health check and report a CheckResult
// with the same ID. The engine counts the check as failed at Deadline, so the
// loop should cancel it then.
type RunCheck struct {
	Service  string
	ID       uint64
	Check    CheckSpec
	Deadline time.Time
}

// Announce asks for a prefix to be originated, or re-originated with new
// attributes when it already is.
type Announce struct {
	Service string
	Prefix  netip.Prefix
	// GracefulShutdown asks for the GRACEFUL_SHUTDOWN community (RFC 8326).
	GracefulShutdown bool
	// Prepend is how many extra copies of the local AS to prepend.
	Prepend int
	// LinkBandwidth is the link-bandwidth extended community value in bytes
	// per second (the unit the community carries); zero means none.
	LinkBandwidth float32
}

// Withdraw asks for a prefix's origination to stop.
type Withdraw struct {
	Service string
	Prefix  netip.Prefix
}

// StateChange reports a service's health or drain state changing, for logs.
type StateChange struct {
	Service   string
	Health    Health
	Admin     Admin
	Announced bool
	Reason    string
}

func (RunCheck) isAction()    {}
func (Announce) isAction()    {}
func (Withdraw) isAction()    {}
func (StateChange) isAction() {}

// ResultRecord is one remembered check result.
type ResultRecord struct {
	ID       uint64        `json:"id"`
	At       time.Time     `json:"at"`
	OK       bool          `json:"ok"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration"`
}

// ServiceStatus is what `clos show services` prints for one service.
type ServiceStatus struct {
	Name       string         `json:"name"`
	Addresses  []netip.Prefix `json:"addresses"`
	Check      CheckSpec      `json:"check"`
	Health     Health         `json:"health"`
	Admin      Admin          `json:"admin"`
	Announced  bool           `json:"announced"`
	Reason     string         `json:"reason"`
	Since      time.Time      `json:"since"`
	Passes     int            `json:"consecutive_passes"`
	Failures   int            `json:"consecutive_failures"`
	Rise       int            `json:"rise"`
	Fall       int            `json:"fall"`
	Interval   time.Duration  `json:"interval"`
	Timeout    time.Duration  `json:"timeout"`
	Weight     uint64         `json:"weight,omitempty"`
	InFlight   bool           `json:"in_flight"`
	NextCheck  time.Time      `json:"next_check,omitzero"`
	DrainUntil time.Time      `json:"drain_until,omitzero"`
	History    []ResultRecord `json:"history"`
}
