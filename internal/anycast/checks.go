package anycast

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// maxOutput bounds what a check keeps of a command's output or an HTTP body,
// so a chatty or hostile service cannot grow the daemon's memory.
const maxOutput = 4096

// Execute runs one check and returns nil when it passes. The error text is
// the detail shown in `clos show services`. ctx carries the deadline; every
// kind gives up when it expires.
func Execute(ctx context.Context, spec CheckSpec) error {
	switch spec.Kind {
	case CheckExec:
		return execCheck(ctx, spec.Command)
	case CheckTCP:
		return tcpCheck(ctx, spec.Address)
	case CheckHTTP:
		return httpCheck(ctx, spec.URL, spec.ExpectStatus)
	case CheckDNS:
		return dnsCheck(ctx, spec.Address, spec.Name, spec.QType)
	}
	return fmt.Errorf("unknown check kind %q; want exec, tcp, http or dns", spec.Kind)
}

// boundedBuffer keeps the first maxOutput bytes written to it and counts
// the rest.
type boundedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := maxOutput - b.buf.Len()
	if room > len(p) {
		room = len(p)
	}
	b.buf.Write(p[:room])
	b.dropped += len(p) - room
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.TrimSpace(strings.ToValidUTF8(b.buf.String(), "?"))
	if b.dropped > 0 {
		s += fmt.Sprintf(" ...(%d more bytes)", b.dropped)
	}
	return s
}

func execCheck(ctx context.Context, argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("exec check without a command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out boundedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// The check may fork helpers that inherit its output pipes; killing the
	// whole process group at the deadline, and not waiting for the pipes
	// longer than a moment after that, keeps a hung grandchild from holding
	// the check open.
	setProcessGroup(cmd)
	cmd.WaitDelay = 100 * time.Millisecond
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if errors.Is(err, exec.ErrWaitDelay) && ctx.Err() == nil {
		// The check exited 0 but left a child holding its output open;
		// the verdict is the exit status.
		return nil
	}
	detail := out.String()
	if ctx.Err() != nil {
		return withOutput(fmt.Errorf("killed at timeout: %w", context.Cause(ctx)), detail)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return withOutput(fmt.Errorf("exit status %d", ee.ExitCode()), detail)
	}
	return withOutput(err, detail)
}

func withOutput(err error, output string) error {
	if output == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, output)
}

func tcpCheck(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// httpTransport ignores proxy settings from the environment: a health check
// must reach the service itself, not whatever proxy the daemon inherited.
var httpTransport = &http.Transport{
	Proxy:              nil,
	DisableKeepAlives:  true,
	DisableCompression: true,
	MaxIdleConns:       -1,
}

var httpClient = &http.Client{
	Transport: httpTransport,
	// A redirect is an answer; following it would test something else.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func httpCheck(ctx context.Context, url string, expect int) error {
	if expect == 0 {
		expect = http.StatusOK
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "closd-health-check")
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOutput))
	if err != nil {
		return fmt.Errorf("status %d, reading body: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != expect {
		var out boundedBuffer
		out.Write(body)
		return withOutput(fmt.Errorf("status %d, want %d", resp.StatusCode, expect), out.String())
	}
	return nil
}

func dnsCheck(ctx context.Context, server, name, qtypeName string) error {
	if qtypeName == "" {
		qtypeName = "A"
	}
	qtype, err := parseQType(qtypeName)
	if err != nil {
		return err
	}
	var idb [2]byte
	// A random ID makes an off-path spoofed "healthy" reply guesswork.
	if _, err := rand.Read(idb[:]); err != nil {
		return err
	}
	id := binary.BigEndian.Uint16(idb[:])
	q, err := buildQuery(id, name, qtype)
	if err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	// Closing the socket when ctx is cancelled unblocks the read even
	// without a deadline.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := c.Write(q); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			// The socket deadline and the context expire together; either
			// one means the server did not answer in time.
			if ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
				return errors.New("no reply within the timeout")
			}
			return err
		}
		// A stray datagram with another ID (a late reply to an earlier
		// check) is skipped, not judged.
		if n >= 2 && binary.BigEndian.Uint16(buf) != id {
			continue
		}
		return judgeDNS(buf[:n], id, name, qtype)
	}
}

// Runner runs checks concurrently, at most max at a time, and delivers
// their results on Results. A check waiting for a free slot counts against
// its own deadline, and every check is cancelled at its deadline, so a hung
// check can hold a slot only until then and never blocks the others for
// longer.
type Runner struct {
	results chan CheckResult
	sem     chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	exec    func(context.Context, CheckSpec) error
	now     func() time.Time
}

// NewRunner returns a Runner with max concurrent checks. Close it to cancel
// running checks and wait for them.
func NewRunner(ctx context.Context, max int) *Runner {
	return newRunner(ctx, max, Execute)
}

// NewRunnerFunc is NewRunner with checks run by execute instead of Execute;
// daemon tests pass a fake that needs no service.
func NewRunnerFunc(ctx context.Context, max int, execute func(context.Context, CheckSpec) error) *Runner {
	return newRunner(ctx, max, execute)
}

func newRunner(ctx context.Context, max int, execute func(context.Context, CheckSpec) error) *Runner {
	if max < 1 {
		max = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	return &Runner{
		// Room for every slot plus as many waiting, so finishing checks
		// rarely wait for the loop.
		results: make(chan CheckResult, 2*max),
		sem:     make(chan struct{}, max),
		ctx:     ctx,
		cancel:  cancel,
		exec:    execute,
		now:     time.Now,
	}
}

// Results is where finished checks are reported. The daemon loop reads it
// and feeds each result to Engine.Step.
func (r *Runner) Results() <-chan CheckResult { return r.results }

// Start runs rc in the background and returns at once. Its deadline is
// rc.Deadline on the wall clock.
func (r *Runner) Start(rc RunCheck) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx, cancel := context.WithDeadline(r.ctx, rc.Deadline)
		defer cancel()
		start := r.now()
		res := CheckResult{Service: rc.Service, ID: rc.ID}
		select {
		case r.sem <- struct{}{}:
			err := r.exec(ctx, rc.Check)
			<-r.sem
			res.OK = err == nil
			if err != nil {
				res.Detail = err.Error()
			}
		case <-ctx.Done():
			res.Detail = "not started: every check slot busy until the deadline"
		}
		res.Duration = r.now().Sub(start)
		select {
		case r.results <- res:
		case <-r.ctx.Done():
		}
	}()
}

// Close cancels every running check and waits for them to finish.
func (r *Runner) Close() {
	r.cancel()
	r.wg.Wait()
}
