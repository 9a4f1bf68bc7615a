package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/daemon"
)

// Start-up and waiting shared by the tests that run a closd engine in
// process and a clos verb against its API.

// serveAPI runs d (built from cfg) until the test ends, with its API on a
// socket in a temp dir named for name, and returns the socket. The test
// fails if Run returns an error or does not return within 10 s of the end.
func serveAPI(t *testing.T, name string, d *daemon.Daemon, cfg *config.Config) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), name+".sock")
	srv, err := api.Start(sock, api.NewHandler(d, api.Info{RouterID: cfg.RouterID, ASN: cfg.ASN}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: Run did not return within 10 s", name)
		}
		srv.Close(context.Background())
	})
	return sock
}

// opsVerb runs one clos verb and returns its status and outputs.
func opsVerb(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// waitFor retries cond every 50 ms; once within has passed it fails with
// failure, a newline and cond's last output.
func waitFor(t *testing.T, within time.Duration, failure string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, out := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s\n%s", failure, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
