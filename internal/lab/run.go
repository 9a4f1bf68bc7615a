package lab

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// cmdTimeout bounds every tool the lab runs, so a stuck tool cannot hang a verb.
const cmdTimeout = 20 * time.Second

func run(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// nsRun runs a command inside a node's namespace.
func nsRun(ctx context.Context, ns string, args ...string) (string, error) {
	return run(ctx, append([]string{"ip", "netns", "exec", ns}, args...)...)
}
