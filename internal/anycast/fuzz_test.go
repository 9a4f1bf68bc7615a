package anycast

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func FuzzParseResponse(f *testing.F) {
	q, _ := buildQuery(0x1234, "resolver.example", typeA)
	f.Add(q)
	qq := q[dnsHeaderLen:]
	f.Add(dnsReply("answer", 0x1234, qq, typeA))
	f.Add(dnsReply("answer", 0x1234, qq, typeAAAA))
	f.Add(dnsReply("nxdomain", 7, qq, typeA))
	f.Add(dnsReply("cname-only", 7, qq, typeA))
	// A pointer to itself and a forward pointer.
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1})
	f.Add([]byte{0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := parseResponse(msg)
		if err != nil {
			if r != nil {
				t.Fatal("error with a response")
			}
			return
		}
		if len(r.Questions) != int(binary.BigEndian.Uint16(msg[4:])) || len(r.Answers) != int(binary.BigEndian.Uint16(msg[6:])) {
			t.Fatalf("section counts %d/%d disagree with the header", len(r.Questions), len(r.Answers))
		}
		for _, a := range r.Answers {
			if (a.Type == typeA && len(a.Data) != 4) || (a.Type == typeAAAA && len(a.Data) != 16) {
				t.Fatalf("accepted %s record with %d octets", qtypeName(a.Type), len(a.Data))
			}
			if len(a.Name) > maxNameLen {
				t.Fatalf("accepted name of %d octets", len(a.Name))
			}
		}
		// Judging must not panic either, whatever the reply says.
		_ = judgeDNS(msg, r.ID, "resolver.example", typeA)

		// A question name that decodes to plain labels survives a round
		// trip through the query encoder.
		for _, qn := range r.Questions {
			// A label holding a dot at its end reads back as the same text
			// as a name with a trailing dot, which the encoder drops.
			if strings.HasSuffix(qn.Name, ".") {
				continue
			}
			b, err := buildQuery(r.ID, qn.Name, qn.Type)
			if err != nil {
				continue // labels with dots inside, or too long once re-split
			}
			back, err := parseResponse(b)
			if err != nil || len(back.Questions) != 1 || back.Questions[0].Name != strings.ToLower(qn.Name) || back.Questions[0].Type != qn.Type {
				t.Fatalf("round trip of %q: %+v %v", qn.Name, back, err)
			}
		}
	})
}

// fuzzConfig builds a valid config from a few bytes: up to three services
// over a fixed address pool (so services can trade addresses), small
// rise/fall, and drain settings including zero drain time.
func fuzzConfig(b []byte) Config {
	get := func(i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	pool := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.1/32"), netip.MustParsePrefix("192.0.2.2/32"),
		netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("2001:db8::2/128"),
		netip.MustParsePrefix("192.0.2.3/32"), netip.MustParsePrefix("2001:db8::3/128"),
	}
	names := []string{"dns", "ntp", "web"}
	var cfg Config
	cfg.History = int(get(0)%4) + 1
	used := map[netip.Prefix]bool{}
	for i, name := range names {
		x := get(1 + 3*i)
		if x&1 == 0 {
			continue
		}
		s := Service{Name: name}
		for j, p := range pool {
			if x&(1<<(j%6+1)) != 0 && !used[p] {
				used[p] = true
				s.Addresses = append(s.Addresses, p)
			}
		}
		if len(s.Addresses) == 0 {
			continue
		}
		y := get(2 + 3*i)
		s.Rise = int(y%4) + 1
		s.Fall = int(y>>2%4) + 1
		s.Interval = time.Duration(y>>4%3+1) * time.Second
		s.Timeout = s.Interval / time.Duration(y>>6%2+1)
		z := get(3 + 3*i)
		s.Check = CheckSpec{Kind: CheckTCP, Address: fmt.Sprintf("127.0.0.1:%d", z%3+1)}
		if z&8 != 0 {
			s.Drain = &DrainSpec{GracefulShutdown: z&16 != 0, Prepend: int(z >> 5 % 4), Time: time.Duration(z>>5%3) * time.Second}
		}
		s.Weight = uint64(z>>6) * 1e9
		cfg.Services = append(cfg.Services, s)
	}
	return cfg
}

type shadowCheck struct {
	id       uint64
	deadline time.Time
}

// FuzzEngine plays random event sequences into the engine as the daemon
// loop would and checks the rules that must always hold: no panic, one
// check in flight per service, only configured addresses announced, and
// never an announcement of a service that has not passed rise consecutive
// checks since it was last withdrawn.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{1, 0x0f, 0x01, 0, 0x13, 0x05, 0x08}, []byte{1, 1, 8, 1, 1, 8, 1, 4, 8, 0, 80, 5, 2, 2, 2})
	f.Add([]byte{2, 0x7f, 0xc4, 0xff, 0x81, 0x00, 0x18}, []byte{1, 2, 1, 8, 1, 6, 0, 240, 7, 9, 1, 1, 14, 0, 255})
	f.Add([]byte{0, 0x03, 0x00, 0x08, 0x05, 0x00, 0x00, 0x09, 0x01, 0x00}, []byte{1, 1, 1, 1, 3, 3, 1, 7, 0xc1, 1, 6, 5, 1})
	f.Fuzz(func(t *testing.T, cfgBytes, ops []byte) {
		cfg := fuzzConfig(cfgBytes)
		e, err := New(cfg)
		if err != nil {
			t.Fatalf("fuzzConfig made an invalid config: %v", err)
		}
		cfg = Normalize(cfg)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		pending := map[string]shadowCheck{}
		passes := map[string]int{}
		announced := map[string]map[netip.Prefix]bool{}
		svcOf := func(name string) (Service, bool) {
			for _, s := range cfg.Services {
				if s.Name == name {
					return s, true
				}
			}
			return Service{}, false
		}
		step := func(ev Event) {
			raw := now
			if now.Before(e.last) {
				now = e.last // the engine clamps a clock that went back
			}
			// Deadlines fall first, as in the engine.
			for name, p := range pending {
				if !now.Before(p.deadline) {
					passes[name] = 0
					delete(pending, name)
				}
			}
			if r, ok := ev.(CheckResult); ok {
				if p, ok := pending[r.Service]; ok && p.id == r.ID {
					if r.OK {
						passes[r.Service]++
					} else {
						passes[r.Service] = 0
					}
					delete(pending, r.Service)
				}
			}
			before := map[string]bool{}
			for name, set := range announced {
				before[name] = len(set) > 0
			}
			for _, a := range e.Step(raw, ev) {
				switch a := a.(type) {
				case RunCheck:
					if _, busy := pending[a.Service]; busy {
						t.Fatalf("second check in flight for %s", a.Service)
					}
					if !a.Deadline.After(now) {
						t.Fatalf("check for %s with deadline %v not after now %v", a.Service, a.Deadline, now)
					}
					pending[a.Service] = shadowCheck{id: a.ID, deadline: a.Deadline}
				case Announce:
					s, ok := svcOf(a.Service)
					if !ok {
						t.Fatalf("announce for unknown service %s", a.Service)
					}
					found := false
					for _, p := range s.Addresses {
						found = found || p == a.Prefix
					}
					if !found {
						t.Fatalf("announce %v not configured for %s", a.Prefix, a.Service)
					}
					if announced[a.Service] == nil {
						announced[a.Service] = map[netip.Prefix]bool{}
					}
					announced[a.Service][a.Prefix] = true
				case Withdraw:
					if !announced[a.Service][a.Prefix] {
						t.Fatalf("withdraw of %v not announced for %s", a.Prefix, a.Service)
					}
					delete(announced[a.Service], a.Prefix)
				}
			}
			for name, set := range announced {
				s, ok := svcOf(name)
				if len(set) > 0 && !before[name] && passes[name] < s.Rise {
					t.Fatalf("%s announced after %d passes since withdrawal, rise %d", name, passes[name], s.Rise)
				}
				if len(set) == 0 && before[name] {
					passes[name] = 0
				}
				if ok {
					st, _ := e.Service(name)
					if st.Announced != (len(set) > 0) {
						t.Fatalf("%s: status announced=%v, actions say %v", name, st.Announced, len(set) > 0)
					}
				}
			}
			if dl, ok := e.NextDeadline(); len(cfg.Services) > 0 && (!ok || !dl.After(now)) {
				t.Fatalf("next deadline %v (ok %v) not after now %v", dl, ok, now)
			}
		}
		names := []string{"dns", "ntp", "web", "nosuch"}
		step(Tick{})
		for i := 0; i+1 < len(ops) && i < 2000; i += 2 {
			op, arg := ops[i], ops[i+1]
			now = now.Add(time.Duration(op>>3) * 100 * time.Millisecond)
			name := names[arg%4]
			switch op % 8 {
			case 0:
				step(Tick{})
			case 1, 2:
				step(CheckResult{Service: name, ID: pending[name].id, OK: op%8 == 1, Detail: "fuzz"})
			case 3:
				step(CheckResult{Service: name, ID: uint64(arg), OK: true})
			case 4:
				step(Drain{Service: name, All: arg&0x80 != 0})
			case 5:
				step(Undrain{Service: name, All: arg&0x80 != 0})
			case 6:
				// A clock that steps back must not undo anything.
				now = now.Add(-time.Duration(arg) * 10 * time.Millisecond)
				step(Tick{})
			case 7:
				end := min(len(ops), i+2+10)
				next := fuzzConfig(append([]byte{arg}, ops[i+2:end]...))
				next = Normalize(next)
				for _, s := range next.Services {
					if old, ok := svcOf(s.Name); ok && !old.Check.equal(s.Check) {
						delete(pending, s.Name) // abandoned by the engine
					}
				}
				for _, s := range cfg.Services {
					if _, ok := func() (Service, bool) {
						for _, n := range next.Services {
							if n.Name == s.Name {
								return n, true
							}
						}
						return Service{}, false
					}(); !ok {
						delete(pending, s.Name)
						delete(passes, s.Name)
					}
				}
				cfg = next
				step(ConfigChange{Config: next})
				i = end - 2
			}
		}
	})
}
