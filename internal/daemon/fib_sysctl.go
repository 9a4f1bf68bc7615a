package daemon

import "github.com/closnet/clos/internal/fib"

// sysctlChecker is implemented by the kernel backend (fib.Linux), not by
// the fake: host settings only matter where the kernel forwards.
type sysctlChecker interface {
	CheckSysctls() []fib.SysctlWarning
}

// warnHostSysctls logs, once at start, every host setting the data plane
// needs but does not have, with the command that fixes it. closd does not
// change them itself: they are the host's policy.
func (d *Daemon) warnHostSysctls() int {
	c, ok := d.fibBackend.(sysctlChecker)
	if !ok {
		return 0
	}
	ws := c.CheckSysctls()
	for _, w := range ws {
		have := w.Have
		if have == "" {
			have = "unreadable"
		}
		d.log.Warn("host setting: "+w.Why, "sysctl", w.Key, "have", have, "want", w.Want, "fix", w.Fix)
	}
	return len(ws)
}
