package lab

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary state files to Load: a bad file is an error,
// never a panic, and a loaded state belongs to the lab asked for.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(`{"name":"x","prefix":"` + Prefix("x") + `","nodes":[{"name":"leaf1","netns":"a","pids":[1]}]}`))
	f.Add([]byte(`{"name":"x","prefix":"cl0000"}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		if err := os.MkdirAll(filepath.Join(base, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, "x", "state.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Load(base, "x")
		if err == nil && (s.Name != "x" || s.Prefix != Prefix("x") || s.Dir() != filepath.Join(base, "x")) {
			t.Errorf("Load accepted a state of another lab: %+v", s)
		}
	})
}
