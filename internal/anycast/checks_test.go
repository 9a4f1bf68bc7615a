package anycast

import (
	"context"
	"encoding/binary"
	"fmt"
	"github.com/closnet/clos/internal/testenv"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestExecCheck(t *testing.T) {
	sh := testenv.RequireTool(t, "sh")
	tru, fals := testenv.RequireTool(t, "true"), testenv.RequireTool(t, "false")
	if err := Execute(ctxTimeout(t, 5*time.Second), CheckSpec{Kind: CheckExec, Command: []string{tru}}); err != nil {
		t.Errorf("true: %v", err)
	}
	err := Execute(ctxTimeout(t, 5*time.Second), CheckSpec{Kind: CheckExec, Command: []string{fals}})
	if err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("false: got %v, want exit status 1", err)
	}
	err = Execute(ctxTimeout(t, 5*time.Second), CheckSpec{Kind: CheckExec, Command: []string{sh, "-c", "echo resolver dead; exit 3"}})
	if err == nil || err.Error() != "exit status 3: resolver dead" {
		t.Errorf("exit 3: got %v", err)
	}
	err = Execute(ctxTimeout(t, 5*time.Second), CheckSpec{Kind: CheckExec, Command: []string{"/nonexistent/check"}})
	if err == nil {
		t.Error("missing program passed")
	}
	// Output is bounded however much the check prints.
	err = Execute(ctxTimeout(t, 5*time.Second), CheckSpec{Kind: CheckExec, Command: []string{sh, "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789abcdef; i=$((i+1)); done; exit 1"}})
	if err == nil || len(err.Error()) > maxOutput+100 || !strings.Contains(err.Error(), "more bytes") {
		t.Errorf("chatty check: got %d bytes of detail: %.120q", len(fmt.Sprint(err)), fmt.Sprint(err))
	}
}

// acceptAndClose accepts every connection to l and closes it, which
// passes a TCP check, until l is closed.
func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func listenLoopback(t *testing.T, network, addr string) net.Listener {
	l, err := net.Listen(network, addr)
	if err != nil {
		if addr[0] == '[' {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestTCPCheck(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		l := listenLoopback(t, "tcp", addr)
		go acceptAndClose(l)
		if err := Execute(ctxTimeout(t, 5*time.Second), CheckSpec{Kind: CheckTCP, Address: l.Addr().String()}); err != nil {
			t.Errorf("%s: %v", l.Addr(), err)
		}
		// A port nobody listens on any more refuses.
		closed := listenLoopback(t, "tcp", addr)
		a := closed.Addr().String()
		closed.Close()
		if err := Execute(ctxTimeout(t, 5*time.Second), CheckSpec{Kind: CheckTCP, Address: a}); err == nil {
			t.Errorf("%s: closed port passed", a)
		}
	}
}

func TestHTTPCheck(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, "ok")
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "backend gone")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/big":
			w.WriteHeader(http.StatusInternalServerError)
			for range 1000 {
				fmt.Fprint(w, strings.Repeat("x", 1000))
			}
		case "/hang":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	cases := []struct {
		path   string
		expect int
		want   string // "" = pass
	}{
		{"/ok", 0, ""},
		{"/ok", 200, ""},
		{"/down", 200, "status 503, want 200: backend gone"},
		{"/nocontent", 204, ""},
		{"/nocontent", 200, "status 204, want 200"},
		{"/redirect", 200, "status 302, want 200"},
		{"/big", 200, "status 500, want 200: xxxx"},
		{"/hang", 200, "context deadline exceeded"},
	}
	for _, c := range cases {
		err := Execute(ctxTimeout(t, 300*time.Millisecond), CheckSpec{Kind: CheckHTTP, URL: srv.URL + c.path, ExpectStatus: c.expect})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.path, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.path, err, c.want)
		case err != nil && len(err.Error()) > maxOutput+200:
			t.Errorf("%s: detail of %d bytes is not bounded", c.path, len(err.Error()))
		}
	}
}

// dnsResponder is a tiny DNS server for tests: it answers each query
// according to mode.
func dnsResponder(t *testing.T, addr, mode string) string {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		if addr[0] == '[' {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q, err := parseResponse(buf[:n])
			if err != nil || len(q.Questions) != 1 {
				continue
			}
			if reply := dnsReply(mode, q.ID, buf[12:n], q.Questions[0].Type); reply != nil {
				pc.WriteTo(reply, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// dnsReply builds a reply echoing the question (raw wire form) and, by
// mode, answering with a compressed-name record.
func dnsReply(mode string, id uint16, question []byte, qtype uint16) []byte {
	flags := uint16(flagQR | flagRD | 1<<7)
	var answers [][]byte
	rr := func(typ uint16, data []byte) []byte {
		b := []byte{0xc0, 12} // pointer to the question name
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, classIN)
		b = binary.BigEndian.AppendUint32(b, 60)
		b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
		return append(b, data...)
	}
	addr := []byte{192, 0, 2, 1}
	if qtype == typeAAAA {
		addr = make([]byte, 16)
		addr[0], addr[15] = 0x20, 1
	}
	switch mode {
	case "answer":
		answers = append(answers, rr(typeCNAME, []byte{0xc0, 12}), rr(qtype, addr))
	case "cname-only":
		answers = append(answers, rr(typeCNAME, []byte{0xc0, 12}))
	case "nxdomain":
		flags |= 3
	case "servfail":
		flags |= 2
	case "empty":
	case "wrong-id":
		id++
		answers = append(answers, rr(qtype, addr))
	case "garbage":
		return []byte{byte(id >> 8), byte(id), 0x81}
	case "silent":
		return nil
	}
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(answers)))
	b = append(b, 0, 0, 0, 0)
	b = append(b, question...)
	for _, a := range answers {
		b = append(b, a...)
	}
	return b
}

func TestDNSCheck(t *testing.T) {
	cases := []struct {
		mode, qtype, want string
	}{
		{"answer", "A", ""},
		{"answer", "AAAA", ""},
		{"answer", "", ""},
		{"cname-only", "A", "no A record in 1 answers"},
		{"nxdomain", "A", "rcode 3 (NXDOMAIN)"},
		{"servfail", "AAAA", "rcode 2 (SERVFAIL)"},
		{"empty", "A", "no A record in 0 answers"},
		{"wrong-id", "A", "no reply"},
		{"garbage", "A", "bad reply"},
		{"silent", "A", "no reply"},
	}
	for _, loop := range []string{"127.0.0.1:0", "[::1]:0"} {
		for _, c := range cases {
			server := dnsResponder(t, loop, c.mode)
			spec := CheckSpec{Kind: CheckDNS, Address: server, Name: "Resolver.Example.", QType: c.qtype}
			err := Execute(ctxTimeout(t, 300*time.Millisecond), spec)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("%s %s %s: %v", loop, c.mode, c.qtype, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s %s %s: got %v, want %q", loop, c.mode, c.qtype, err, c.want)
			}
		}
	}
}

func TestExecuteUnknownKind(t *testing.T) {
	if err := Execute(context.Background(), CheckSpec{Kind: "icmp"}); err == nil {
		t.Error("unknown kind passed")
	}
}

func collect(t *testing.T, r *Runner, n int, within time.Duration) []CheckResult {
	t.Helper()
	var out []CheckResult
	timer := time.NewTimer(within)
	defer timer.Stop()
	for len(out) < n {
		select {
		case res := <-r.Results():
			out = append(out, res)
		case <-timer.C:
			t.Fatalf("only %d of %d results within %v: %+v", len(out), n, within, out)
		}
	}
	return out
}

// fakeExec passes "ok" checks at once and blocks "hang" checks until their
// context ends.
func fakeExec(ctx context.Context, spec CheckSpec) error {
	if spec.Address == "hang" {
		<-ctx.Done()
		return context.Cause(ctx)
	}
	return nil
}

func TestRunnerHungCheckDoesNotBlockOthers(t *testing.T) {
	r := newRunner(context.Background(), 2, fakeExec)
	defer r.Close()
	far := time.Now().Add(time.Minute)
	r.Start(RunCheck{Service: "stuck", ID: 1, Check: CheckSpec{Address: "hang"}, Deadline: far})
	for i := range 5 {
		r.Start(RunCheck{Service: fmt.Sprintf("s%d", i), ID: uint64(10 + i), Check: CheckSpec{Address: "ok"}, Deadline: far})
	}
	got := collect(t, r, 5, 10*time.Second)
	for _, res := range got {
		if res.Service == "stuck" || !res.OK {
			t.Errorf("unexpected result %+v", res)
		}
	}
}

func TestRunnerDeadlineAndFullPool(t *testing.T) {
	r := newRunner(context.Background(), 1, fakeExec)
	defer r.Close()
	now := time.Now()
	r.Start(RunCheck{Service: "stuck", ID: 1, Check: CheckSpec{Address: "hang"}, Deadline: now.Add(400 * time.Millisecond)})
	// Give the hung check the only slot first.
	for i := 0; len(r.sem) == 0; i++ {
		if i > 1000 {
			t.Fatal("hung check never took its slot")
		}
		time.Sleep(time.Millisecond)
	}
	r.Start(RunCheck{Service: "waiting", ID: 2, Check: CheckSpec{Address: "ok"}, Deadline: now.Add(100 * time.Millisecond)})
	got := collect(t, r, 2, 10*time.Second)
	by := map[string]CheckResult{}
	for _, res := range got {
		by[res.Service] = res
	}
	if w := by["waiting"]; w.OK || !strings.Contains(w.Detail, "slot busy") {
		t.Errorf("waiting check: %+v", w)
	}
	if s := by["stuck"]; s.OK || s.ID != 1 || !strings.Contains(s.Detail, "deadline exceeded") {
		t.Errorf("stuck check: %+v", s)
	}
	// Once the slot is free again checks run.
	r.Start(RunCheck{Service: "later", ID: 3, Check: CheckSpec{Address: "ok"}, Deadline: time.Now().Add(time.Minute)})
	if res := collect(t, r, 1, 10*time.Second)[0]; !res.OK || res.ID != 3 {
		t.Errorf("later check: %+v", res)
	}
}

func TestRunnerCloseCancels(t *testing.T) {
	r := newRunner(context.Background(), 4, fakeExec)
	for i := range 4 {
		r.Start(RunCheck{Service: "stuck", ID: uint64(i), Check: CheckSpec{Address: "hang"}, Deadline: time.Now().Add(time.Hour)})
	}
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not cancel hung checks")
	}
}

// TestEngineWithRunner wires the engine to a real Runner and TCP checks the
// way the daemon loop will, on the wall clock: the address comes up while a
// listener accepts and goes away after it closes.
func TestEngineWithRunner(t *testing.T) {
	l := listenLoopback(t, "tcp", "127.0.0.1:0")
	go acceptAndClose(l)
	e, err := New(Config{Services: []Service{{
		Name:      "svc",
		Addresses: []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32")},
		Check:     CheckSpec{Kind: CheckTCP, Address: l.Addr().String()},
		Interval:  20 * time.Millisecond,
		Timeout:   20 * time.Millisecond,
		Rise:      2,
		Fall:      2,
	}}})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRunner(context.Background(), 4)
	defer r.Close()
	announced := false
	run := func(until func() bool) {
		timer := time.NewTimer(0)
		defer timer.Stop()
		var ev Event = Tick{}
		for i := 0; i < 2000 && !until(); i++ {
			for _, a := range e.Step(time.Now(), ev) {
				switch a := a.(type) {
				case RunCheck:
					r.Start(a)
				case Announce:
					announced = true
				case Withdraw:
					announced = false
				}
			}
			ev = Tick{}
			dl, _ := e.NextDeadline()
			timer.Reset(time.Until(dl))
			select {
			case res := <-r.Results():
				ev = res
			case <-timer.C:
			}
		}
	}
	run(func() bool { return announced })
	if !announced {
		t.Fatal("service never announced while its port accepted")
	}
	l.Close()
	run(func() bool { return !announced })
	if announced {
		t.Fatal("service still announced after its port closed")
	}
	st, _ := e.Service("svc")
	if st.Health != HealthDown || len(st.History) == 0 || st.History[len(st.History)-1].OK {
		t.Errorf("status after close: %+v", st)
	}
}
