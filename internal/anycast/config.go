package anycast

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ConfigError names the service and field a config problem is in.
type ConfigError struct {
	Service string // empty for config-wide fields
	Field   string
	Msg     string
}

func (e *ConfigError) Error() string {
	if e.Service == "" {
		return fmt.Sprintf("anycast: %s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("anycast: service %q: %s: %s", e.Service, e.Field, e.Msg)
}

// Normalize returns a copy of c with every zero field set to its default.
// It does not validate.
func Normalize(c Config) Config {
	out := c
	if out.Drain == (DrainSpec{}) {
		out.Drain = DefaultDrain
	}
	if out.History == 0 {
		out.History = DefaultHistory
	}
	out.Services = make([]Service, len(c.Services))
	for i, s := range c.Services {
		s.Addresses = append([]netip.Prefix(nil), s.Addresses...)
		s.Check.Command = append([]string(nil), s.Check.Command...)
		if s.Interval == 0 {
			s.Interval = DefaultInterval
		}
		if s.Timeout == 0 {
			s.Timeout = min(DefaultTimeout, s.Interval)
		}
		if s.Rise == 0 {
			s.Rise = DefaultRise
		}
		if s.Fall == 0 {
			s.Fall = DefaultFall
		}
		if s.Check.Kind == CheckHTTP && s.Check.ExpectStatus == 0 {
			s.Check.ExpectStatus = 200
		}
		if s.Check.Kind == CheckDNS && s.Check.QType == "" {
			s.Check.QType = "A"
		}
		if s.Drain != nil {
			d := *s.Drain
			s.Drain = &d
		}
		out.Services[i] = s
	}
	return out
}

// Validate checks a normalized config and returns the first problem, naming
// the service and field and saying what would be valid.
func Validate(c Config) error {
	if c.History < 1 || c.History > 1000 {
		return &ConfigError{Field: "history", Msg: fmt.Sprintf("%d is out of range; want 1..1000", c.History)}
	}
	if err := validateDrain("", "drain", c.Drain); err != nil {
		return err
	}
	names := map[string]bool{}
	owner := map[netip.Prefix]string{}
	for i, s := range c.Services {
		if s.Name == "" {
			return &ConfigError{Field: fmt.Sprintf("services[%d].name", i), Msg: "empty; every service needs a unique name"}
		}
		if !validName(s.Name) {
			return &ConfigError{Field: fmt.Sprintf("services[%d].name", i), Msg: fmt.Sprintf("%q; want 1..64 of letters, digits, '.', '_' and '-'", s.Name)}
		}
		if names[s.Name] {
			return &ConfigError{Service: s.Name, Field: "name", Msg: "used by more than one service; names must be unique"}
		}
		names[s.Name] = true
		bad := func(field, format string, args ...any) error {
			return &ConfigError{Service: s.Name, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		if len(s.Addresses) == 0 {
			return bad("addresses", "empty; want at least one /32 or /128 address")
		}
		for j, p := range s.Addresses {
			f := fmt.Sprintf("addresses[%d]", j)
			if !p.IsValid() {
				return bad(f, "not a valid prefix; want an address like 192.0.2.53/32 or 2001:db8::53/128")
			}
			if p.Bits() != p.Addr().BitLen() {
				return bad(f, "%v is not a host prefix; want /%d", p, p.Addr().BitLen())
			}
			if p.Addr().Is4In6() || p.Addr().Zone() != "" {
				return bad(f, "%v: want a plain IPv4 or IPv6 address without zone or 4-in-6 form", p)
			}
			if o, ok := owner[p]; ok {
				return bad(f, "%v is also an address of service %q; an address belongs to one service", p, o)
			}
			owner[p] = s.Name
		}
		if s.Interval <= 0 {
			return bad("interval", "%v; want a positive duration such as 1s", s.Interval)
		}
		if s.Timeout <= 0 || s.Timeout > s.Interval {
			// A timeout longer than the interval would let checks overlap or
			// stretch the interval, and break the fall x interval bound.
			return bad("timeout", "%v; want a positive duration no longer than interval (%v)", s.Timeout, s.Interval)
		}
		if s.Rise < 1 || s.Rise > 1000 {
			return bad("rise", "%d; want 1..1000 consecutive passes", s.Rise)
		}
		if s.Fall < 1 || s.Fall > 1000 {
			return bad("fall", "%d; want 1..1000 consecutive failures", s.Fall)
		}
		if s.Drain != nil {
			if err := validateDrain(s.Name, "drain", *s.Drain); err != nil {
				return err
			}
		}
		if err := validateCheck(s.Name, s.Check); err != nil {
			return err
		}
	}
	return nil
}

func validateDrain(svc, field string, d DrainSpec) error {
	if d.Prepend < 0 || d.Prepend > MaxPrepend {
		return &ConfigError{Service: svc, Field: field + ".prepend", Msg: fmt.Sprintf("%d; want 0..%d", d.Prepend, MaxPrepend)}
	}
	if d.Time < 0 {
		return &ConfigError{Service: svc, Field: field + ".time", Msg: fmt.Sprintf("%v; want zero (withdraw at once) or a positive duration", d.Time)}
	}
	return nil
}

func validHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("empty host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1..65535", port)
	}
	return nil
}

func validateCheck(svc string, c CheckSpec) error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Service: svc, Field: "check." + field, Msg: fmt.Sprintf(format, args...)}
	}
	switch c.Kind {
	case CheckExec:
		if len(c.Command) == 0 || c.Command[0] == "" {
			return bad("command", "empty; want a program and its arguments, e.g. [\"/usr/local/bin/check-dns\"]")
		}
	case CheckTCP:
		if err := validHostPort(c.Address); err != nil {
			return bad("address", "%q: %v; want host:port such as 127.0.0.1:53", c.Address, err)
		}
	case CheckHTTP:
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("url", "%q; want an absolute http:// or https:// URL", c.URL)
		}
		if c.ExpectStatus < 100 || c.ExpectStatus > 599 {
			return bad("expect_status", "%d; want an HTTP status 100..599", c.ExpectStatus)
		}
	case CheckDNS:
		if err := validHostPort(c.Address); err != nil {
			return bad("address", "%q: %v; want the server as host:port such as 127.0.0.1:53", c.Address, err)
		}
		// Resolving the resolver's own name could go through the very
		// service being checked; an address literal avoids the circle.
		if ap, err := netip.ParseAddrPort(c.Address); err != nil || ap.Addr().Zone() != "" {
			return bad("address", "%q; want an IP address and port such as 127.0.0.1:53 or [::1]:53, not a host name", c.Address)
		}
		if _, err := encodeName(nil, c.Name); err != nil {
			return bad("name", "%q: %v", c.Name, err)
		}
		if _, err := parseQType(c.QType); err != nil {
			return bad("qtype", "%q; want A or AAAA", c.QType)
		}
	default:
		return bad("kind", "%q; want one of exec, tcp, http, dns", c.Kind)
	}
	return nil
}

func parseQType(s string) (uint16, error) {
	switch strings.ToUpper(s) {
	case "A":
		return typeA, nil
	case "AAAA":
		return typeAAAA, nil
	}
	return 0, fmt.Errorf("unknown query type %q", s)
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
