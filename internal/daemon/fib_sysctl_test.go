package daemon

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/fib"
)

type sysctlBackend struct {
	*fib.Fake
	ws []fib.SysctlWarning
}

func (b sysctlBackend) CheckSysctls() []fib.SysctlWarning { return b.ws }

func TestWarnHostSysctls(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	w := fib.SysctlWarning{Key: "net.ipv4.fib_multipath_hash_policy", Have: "0", Want: "1", Why: "hash ECMP on the 5-tuple", Fix: "sysctl -w net.ipv4.fib_multipath_hash_policy=1"}
	d := &Daemon{fibBackend: sysctlBackend{fib.NewFake(), []fib.SysctlWarning{w}}, log: log}
	if n := d.warnHostSysctls(); n != 1 {
		t.Fatalf("%d warnings", n)
	}
	out := buf.String()
	for _, s := range []string{"level=WARN", "net.ipv4.fib_multipath_hash_policy", "have=0", `fix="sysctl -w net.ipv4.fib_multipath_hash_policy=1"`} {
		if !strings.Contains(out, s) {
			t.Errorf("log %q lacks %q", out, s)
		}
	}
	// The fake backend has no host to check.
	buf.Reset()
	d.fibBackend = fib.NewFake()
	if n := d.warnHostSysctls(); n != 0 || buf.Len() != 0 {
		t.Fatalf("fake backend: %d warnings, log %q", n, buf.String())
	}
}
