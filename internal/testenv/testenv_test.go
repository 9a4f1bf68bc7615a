package testenv

import (
	"os"
	"testing"
)

// fakeTB records how a Require function stopped the test.
type fakeTB struct {
	testing.TB
	fatal, skip string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Fatal(args ...any) { f.fatal = args[0].(string) }
func (f *fakeTB) Skip(args ...any)  { f.skip = args[0].(string) }

func TestRequireToolMissing(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		f := &fakeTB{}
		if p := RequireTool(f, "no-such-tool-clos-testenv"); p != "" {
			t.Fatalf("CI=%q: path %q for a missing tool", ci, p)
		}
		if ci == "true" && f.fatal == "" || ci == "" && f.skip == "" {
			t.Errorf("CI=%q: fatal %q skip %q", ci, f.fatal, f.skip)
		}
	}
}

func TestRequireToolFound(t *testing.T) {
	f := &fakeTB{}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if p := RequireTool(f, exe); p != exe || f.fatal != "" || f.skip != "" {
		t.Fatalf("RequireTool(%s) = %q, fatal %q skip %q", exe, p, f.fatal, f.skip)
	}
}
