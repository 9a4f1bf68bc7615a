package lab

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzClosdLog feeds arbitrary closd logs to the session reader: it must
// never panic, and only report states closd's FSM has.
func FuzzClosdLog(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-28T13:15:07Z","msg":"state change","neighbor":"10.1.0.0","from":"Active","to":"OpenSent"}
{"time":"2026-11-28T13:15:07Z","msg":"session established","neighbor":"10.1.0.0"}
`))
	f.Add([]byte(`{"msg":"session down","neighbor":"x"}` + "\n" + `{"msg":"state change","neighbor":"x","to":""}`))
	f.Add([]byte("not json\n{}\n{\"neighbor\":5}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "closd.log")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, x := range closdPeers(Node{Log: p}) {
			if x.addr == "" || x.state == "" {
				t.Errorf("peer with empty address or state: %+v", x)
			}
		}
	})
}

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
