package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/closnet/clos/internal/anycast"
)

// Routing on the host (issue 12): the anycast services a host announces
// while their health checks pass, and how they are drained. The YAML keys
// map one to one onto anycast.Config; ServicesConfig does the mapping.

// Defaults of the services and drain sections.
const (
	DefaultServiceInterval = anycast.DefaultInterval
	// DefaultServiceTimeout applies up to 3/4 of the interval.
	DefaultServiceTimeout = 750 * time.Millisecond
	DefaultServiceRise    = anycast.DefaultRise
	DefaultServiceFall    = anycast.DefaultFall
	DefaultDrainTime      = anycast.DefaultDrainTime
	// MaxDrainTime bounds how long closd holds a drained announcement: a
	// SIGTERM waits this long at most before it withdraws.
	MaxDrainTime = time.Hour
)

// Duration is a Go duration string in the file ("200ms", "5s", "1m30s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d *Duration) unmarshalNode(n *yaml.Node) error {
	const want = `want a duration such as "200ms", "5s" or "1m30s"`
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return fmt.Errorf("got %s; %s", kindName(n), want)
	}
	x, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, ierr := strconv.ParseInt(n.Value, 10, 64); ierr == nil {
			return fmt.Errorf("%q has no unit; %s", n.Value, want)
		}
		return fmt.Errorf("%q; %s", n.Value, want)
	}
	*d = Duration(x)
	return nil
}

// MarshalYAML writes the duration as Go prints it, which parses back.
func (d Duration) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: time.Duration(d).String()}, nil
}

// Service is one anycast service of a host: addresses put on the loopback
// and announced while the check passes.
type Service struct {
	Name      string         `yaml:"name"`
	Addresses []netip.Prefix `yaml:"addresses"`
	Check     Check          `yaml:"check"`
	Interval  Duration       `yaml:"interval,omitempty"`
	Timeout   Duration       `yaml:"timeout,omitempty"`
	Rise      int            `yaml:"rise,omitempty"`
	Fall      int            `yaml:"fall,omitempty"`
	// Weight is the instance's capacity in bit/s, sent as the link-bandwidth
	// extended community; 0 leaves it off.
	Weight uint64 `yaml:"weight,omitempty"`
	// Drain overrides the top-level drain for this service; fields it
	// leaves out are taken from there.
	Drain *Drain `yaml:"drain,omitempty"`
}

// Check is a service's health check. Kind exec uses Command; tcp uses
// Address (host:port); http uses URL and ExpectStatus; dns uses Address
// (ip:port), Name and QType.
type Check struct {
	Kind         string   `yaml:"kind"`
	Command      []string `yaml:"command,omitempty"`
	Address      string   `yaml:"address,omitempty"`
	URL          string   `yaml:"url,omitempty"`
	ExpectStatus int      `yaml:"expect-status,omitempty"`
	Name         string   `yaml:"name,omitempty"`
	QType        string   `yaml:"qtype,omitempty"`
}

// Drain says how services are taken out of the anycast set: made less
// preferred (GRACEFUL_SHUTDOWN community and/or AS-path prepend) for Time,
// then withdrawn. Pointers tell "left out" (take the default) from an
// explicit false or 0.
type Drain struct {
	GracefulShutdown *bool     `yaml:"graceful-shutdown,omitempty"`
	Prepend          *int      `yaml:"prepend,omitempty"`
	Time             *Duration `yaml:"time,omitempty"`
	// OnSigterm drains every service before closd stops on SIGTERM. Only
	// meaningful at the top level.
	OnSigterm *bool `yaml:"on-sigterm,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// applyServiceDefaults fills the services and drain sections, and the host
// profile, so the canonical file shows what closd will do.
func (c *Config) applyServiceDefaults() {
	if c.Role == "host" && len(c.Networks) == 0 && c.RouterID.Is4() && !c.RouterID.IsUnspecified() {
		// A host's router-id is its loopback: announce it, as the
		// fabric reaches the host through it.
		c.Networks = []netip.Prefix{netip.PrefixFrom(c.RouterID, 32)}
	}
	if len(c.Services) == 0 {
		c.Services = nil // "services: []" is the same as none
		if c.Drain == nil {
			return
		}
	}
	if c.Drain == nil {
		c.Drain = &Drain{}
	}
	top := c.Drain
	if top.GracefulShutdown == nil {
		top.GracefulShutdown = ptr(anycast.DefaultDrain.GracefulShutdown)
	}
	if top.Prepend == nil {
		top.Prepend = ptr(0)
	}
	if top.Time == nil {
		top.Time = ptr(Duration(DefaultDrainTime))
	}
	if top.OnSigterm == nil {
		top.OnSigterm = ptr(true)
	}
	for i := range c.Services {
		s := &c.Services[i]
		if s.Interval == 0 {
			s.Interval = Duration(DefaultServiceInterval)
		}
		if s.Timeout == 0 {
			// Shorter than the interval, so a timed-out check has ended
			// before the next one is due.
			s.Timeout = Duration(min(DefaultServiceTimeout, s.Interval.D()*3/4))
		}
		if s.Rise == 0 {
			s.Rise = DefaultServiceRise
		}
		if s.Fall == 0 {
			s.Fall = DefaultServiceFall
		}
		if s.Check.Kind == "http" && s.Check.ExpectStatus == 0 {
			s.Check.ExpectStatus = 200
		}
		if s.Check.Kind == "dns" && s.Check.QType == "" {
			s.Check.QType = "A"
		}
		if d := s.Drain; d != nil {
			if d.GracefulShutdown == nil {
				d.GracefulShutdown = ptr(*top.GracefulShutdown)
			}
			if d.Prepend == nil {
				d.Prepend = ptr(*top.Prepend)
			}
			if d.Time == nil {
				d.Time = ptr(*top.Time)
			}
		}
	}
}

var checkFields = map[string][]string{
	"exec": {"command"},
	"tcp":  {"address"},
	"http": {"url", "expect-status"},
	"dns":  {"address", "name", "qtype"},
}

func (v *validator) services() {
	c := v.c
	if c.Drain != nil {
		v.drain("drain", c.Drain, true)
	}
	names := map[string]int{}
	owner := map[netip.Prefix]string{}
	for i := range c.Services {
		s := &c.Services[i]
		p := fmt.Sprintf("services[%d]", i)
		switch {
		case s.Name == "":
			v.errf(p+".name", "missing; every service needs a unique name of letters, digits, . _ - (1-64 characters)")
		case !serviceNameOK(s.Name):
			v.errf(p+".name", "%q; want 1-64 letters, digits, . _ -", s.Name)
		default:
			if j, dup := names[s.Name]; dup {
				v.errf(p+".name", "%q is already services[%d]; names must be unique", s.Name, j)
			}
			names[s.Name] = i
		}
		if len(s.Addresses) == 0 {
			v.errf(p+".addresses", "missing; want at least one host address like 10.255.0.53/32 or 2001:db8:ff::53/128")
		}
		for j, a := range s.Addresses {
			ap := fmt.Sprintf("%s.addresses[%d]", p, j)
			switch {
			case !a.IsValid():
				v.errf(ap, "missing; want a host address like 10.255.0.53/32 or 2001:db8:ff::53/128")
			case a.Addr().Is4In6() || a.Addr().Zone() != "":
				v.errf(ap, "%s; want a plain IPv4 /32 or IPv6 /128", a)
			case a.Bits() != a.Addr().BitLen():
				v.errf(ap, "%s is not a host prefix; want %s/%d", a, a.Addr(), a.Addr().BitLen())
			case !a.Addr().IsGlobalUnicast():
				v.errf(ap, "%s; want a unicast address a client can reach (not loopback, link-local or multicast)", a)
			default:
				if o, dup := owner[a]; dup {
					v.errf(ap, "%s is also an address of service %s; an address belongs to one service", a, o)
				}
				owner[a] = s.Name
			}
		}
		v.check(p+".check", s.Check)
		if s.Interval <= 0 {
			v.errf(p+".interval", "%v; want a positive duration such as 1s or 200ms", s.Interval.D())
		}
		if s.Timeout <= 0 || (s.Interval > 0 && s.Timeout >= s.Interval) {
			// Only one check per service is in flight; a timeout as long
			// as the interval would stretch it and the fall x interval
			// withdrawal bound with it.
			v.errf(p+".timeout", "%v; want a positive duration shorter than interval (%v)", s.Timeout.D(), s.Interval.D())
		}
		if s.Rise < 1 || s.Rise > 1000 {
			v.errf(p+".rise", "%d; want 1..1000 consecutive passes before the addresses are announced", s.Rise)
		}
		if s.Fall < 1 || s.Fall > 1000 {
			v.errf(p+".fall", "%d; want 1..1000 consecutive failures before they are withdrawn", s.Fall)
		}
		if s.Drain != nil {
			v.drain(p+".drain", s.Drain, false)
		}
	}
	if len(c.Services) > 0 && v.ok() {
		// The engine's own rules are the final word; the checks above
		// give the same answers with a line number, so this only catches
		// what they would have missed.
		if _, err := anycast.New(c.ServicesConfig()); err != nil {
			v.errf("services", "%v", err)
		}
	}
}

func (v *validator) ok() bool { return len(v.d.errs) == 0 }

func serviceNameOK(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (v *validator) drain(path string, d *Drain, top bool) {
	if d.Prepend != nil && (*d.Prepend < 0 || *d.Prepend > anycast.MaxPrepend) {
		v.errf(path+".prepend", "%d; want 0..%d extra copies of our AS while draining", *d.Prepend, anycast.MaxPrepend)
	}
	if d.Time != nil && (*d.Time < 0 || d.Time.D() > MaxDrainTime) {
		v.errf(path+".time", "%v; want 0s (withdraw at once) up to %v", d.Time.D(), MaxDrainTime)
	}
	if !top && d.OnSigterm != nil {
		v.errf(path+".on-sigterm", "only applies to the top-level drain section; move it there")
	}
}

func (v *validator) check(path string, c Check) {
	fields, ok := checkFields[c.Kind]
	if !ok {
		v.errf(path+".kind", "%q; valid: exec, tcp, http, dns", c.Kind)
		return
	}
	set := map[string]bool{
		"command": len(c.Command) > 0, "address": c.Address != "", "url": c.URL != "",
		"expect-status": c.ExpectStatus != 0, "name": c.Name != "", "qtype": c.QType != "",
	}
	for _, f := range []string{"command", "address", "url", "expect-status", "name", "qtype"} {
		if set[f] && !oneOf(f, fields) {
			v.errf(path+"."+f, "does not apply to kind %s (its fields: %s); remove it", c.Kind, strings.Join(fields, ", "))
		}
	}
	switch c.Kind {
	case "exec":
		if len(c.Command) == 0 || c.Command[0] == "" {
			v.errf(path+".command", `missing; want the program and its arguments, e.g. ["/usr/local/bin/check-dns", "-q"] (run without a shell)`)
		}
	case "tcp":
		if err := hostPort(c.Address); err != nil {
			v.errf(path+".address", "%q: %v; want host:port such as 127.0.0.1:80 or [::1]:80", c.Address, err)
		}
	case "http":
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errf(path+".url", "%q; want an absolute http:// or https:// URL such as http://127.0.0.1/health", c.URL)
		}
		if c.ExpectStatus < 100 || c.ExpectStatus > 599 {
			v.errf(path+".expect-status", "%d; want an HTTP status 100..599", c.ExpectStatus)
		}
	case "dns":
		if ap, err := netip.ParseAddrPort(c.Address); err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
			// An address literal: resolving the resolver by name could go
			// through the very service being checked.
			v.errf(path+".address", "%q; want the resolver's IP address and port such as 127.0.0.1:53 or [::1]:53", c.Address)
		}
		if c.Name == "" {
			v.errf(path+".name", "missing; want the name to query, such as example.org")
		} else if len(c.Name) > 253 {
			v.errf(path+".name", "%d characters; want a DNS name of at most 253", len(c.Name))
		}
		if q := strings.ToUpper(c.QType); q != "A" && q != "AAAA" {
			v.errf(path+".qtype", "%q; valid: A, AAAA", c.QType)
		}
	}
}

func hostPort(s string) error {
	host, port, err := splitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1..65535", port)
	}
	return nil
}

func splitHostPort(s string) (string, string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().String(), strconv.Itoa(int(ap.Port())), nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", fmt.Errorf("no port")
	}
	host := s[:i]
	if strings.ContainsAny(host, ":[]") {
		return "", "", fmt.Errorf("an IPv6 address needs brackets")
	}
	return host, s[i+1:], nil
}

func (d *Drain) spec() anycast.DrainSpec {
	var out anycast.DrainSpec
	if d.GracefulShutdown != nil {
		out.GracefulShutdown = *d.GracefulShutdown
	}
	if d.Prepend != nil {
		out.Prepend = *d.Prepend
	}
	if d.Time != nil {
		out.Time = d.Time.D()
	}
	return out
}

// DrainOnSigterm reports whether SIGTERM drains the services before closd
// stops (drain.on-sigterm, default true).
func (c *Config) DrainOnSigterm() bool {
	if c.Drain == nil || c.Drain.OnSigterm == nil {
		return true
	}
	return *c.Drain.OnSigterm
}

// ServicesConfig maps the services and drain sections onto the anycast
// engine's configuration. Every service carries its resolved drain, so an
// explicit "no community, no prepend, 0s" is kept rather than defaulted.
func (c *Config) ServicesConfig() anycast.Config {
	top := anycast.DefaultDrain
	if c.Drain != nil {
		d := *c.Drain
		if d.GracefulShutdown == nil {
			d.GracefulShutdown = ptr(anycast.DefaultDrain.GracefulShutdown)
		}
		if d.Time == nil {
			d.Time = ptr(Duration(DefaultDrainTime))
		}
		top = d.spec()
	}
	out := anycast.Config{Drain: top}
	for _, s := range c.Services {
		as := anycast.Service{
			Name:      s.Name,
			Addresses: append([]netip.Prefix(nil), s.Addresses...),
			Check: anycast.CheckSpec{
				Kind:         anycast.CheckKind(s.Check.Kind),
				Command:      append([]string(nil), s.Check.Command...),
				Address:      s.Check.Address,
				URL:          s.Check.URL,
				ExpectStatus: s.Check.ExpectStatus,
				Name:         s.Check.Name,
				QType:        strings.ToUpper(s.Check.QType),
			},
			Interval: s.Interval.D(),
			Timeout:  s.Timeout.D(),
			Rise:     s.Rise,
			Fall:     s.Fall,
			Weight:   s.Weight,
		}
		d := top
		if s.Drain != nil {
			o := s.Drain.spec()
			if s.Drain.GracefulShutdown == nil {
				o.GracefulShutdown = top.GracefulShutdown
			}
			if s.Drain.Prepend == nil {
				o.Prepend = top.Prepend
			}
			if s.Drain.Time == nil {
				o.Time = top.Time
			}
			d = o
		}
		as.Drain = &d
		out.Services = append(out.Services, as)
	}
	return out
}
