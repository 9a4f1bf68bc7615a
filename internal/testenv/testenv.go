// Package testenv holds what tests across clos need to know about the machine
// they run on: whether they may create network namespaces and whether a
// Debian tool they talk to is installed.
//
// A test that lacks root or a tool skips outside CI, so a developer without
// them can still run everything else; in CI (CI=true) it fails, because
// there a missing privilege or package means the suite did not test what it
// claims to.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireRoot stops t unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	missing(t, "test needs root (network namespaces, routes, raw sockets)")
}

// RequireTool stops t unless name is on PATH or is an existing path, and
// returns where it is.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if _, serr := os.Stat(name); serr == nil {
		return name
	}
	missing(t, fmt.Sprintf("test needs %s (make test installs it with scripts/deps.sh): %v", name, err))
	return ""
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
