package testenv

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Run runs the command args (ip, vtysh, a daemon that forks) for test
// set-up and returns its combined output; it fails t when the command
// fails or takes more than 10 s, so no test waits on a hung tool.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
