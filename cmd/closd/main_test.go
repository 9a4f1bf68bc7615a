package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/closnet/clos/internal/api"
)

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	unnumbered := filepath.Join(dir, "unrunnable.yaml")
	os.WriteFile(good, []byte("router-id: 10.0.0.1\nasn: 65001\nneighbors:\n  - address: 10.1.0.0\n    remote-as: external\n"), 0o644)
	os.WriteFile(bad, []byte("router-id: 10.0.0.1\nasn: 65001\nneighbors:\n  - address: 10.1.0.0\n    remote_as: 65002\n"), 0o644)
	os.WriteFile(unnumbered, []byte("router-id: 10.0.0.1\nasn: 65001\nredistribute: {connected: {}}\n"), 0o644)

	for _, tc := range []struct {
		name   string
		args   []string
		status int
		want   string
	}{
		{"valid", []string{"--check-config", good}, 0, "valid"},
		{"unknown field names file, line and field", []string{"--check-config", bad}, 2, "bad.yaml:5"},
		{"missing file", []string{"--check-config", filepath.Join(dir, "none.yaml")}, 2, "none.yaml"},
		{"stray argument", []string{"run"}, 2, "unexpected argument"},
		{"valid but not runnable is said so", []string{"--check-config", unnumbered}, 0, "cannot run it: daemon: redistribute.connected is not supported"},
		{"run refuses what it cannot run", []string{"--config", unnumbered, "--fib=false"}, 2, "redistribute.connected is not supported"},
		{"bad log level", []string{"--config", good, "--log-level", "loud"}, 2, `log level "loud"`},
		{"API socket where none can be made", []string{"--config", good, "--fib=false", "--api-socket", filepath.Join(good, "closd.sock")}, 1, "closd: control API: api socket " + filepath.Join(good, "closd.sock")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got := run(context.Background(), tc.args, &out, &errb)
			if got != tc.status {
				t.Fatalf("status %d, want %d; stderr: %s", got, tc.status, errb.String())
			}
			if !strings.Contains(out.String()+errb.String(), tc.want) {
				t.Fatalf("output %q lacks %q", out.String()+errb.String(), tc.want)
			}
		})
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunUntilCancelled runs closd on loopback without touching the kernel
// and stops it as SIGTERM would.
func TestRunUntilCancelled(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "closd.yaml")
	sock := filepath.Join(dir, "run", "closd.sock")
	os.WriteFile(path, []byte(fmt.Sprintf("router-id: 10.0.0.1\nasn: 65001\napi: {socket: /nonexistent/closd.sock}\nlisten: {address: 127.0.0.1, port: %d}\nnetworks: [10.1.0.0/24]\nneighbors:\n  - address: 127.0.0.2\n    remote-as: external\n    port: %d\n", port, port)), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config", path, "--fib=false", "--log-format", "json", "--api-socket", sock}, &out, &errb)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(errb.String(), `"msg":"closd running"`) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("closd did not start; stderr: %s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// It listens where the config says.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
	if err != nil {
		t.Fatalf("closd is not listening: %v", err)
	}
	c.Close()
	// The control API answers on the --api-socket, not the config's path.
	sum, err := api.NewClient(sock).Summary(context.Background())
	if err != nil {
		t.Fatalf("control API: %v", err)
	}
	if sum.RouterID.String() != "10.0.0.1" || sum.LocalAS != 65001 || len(sum.Neighbors) != 1 || sum.Neighbors[0].Address.String() != "127.0.0.2" {
		t.Errorf("summary %+v", sum)
	}
	// A second closd on the same socket is refused, and leaves the first alone.
	var errb2 syncBuffer
	if code := run(context.Background(), []string{"--config", path, "--fib=false", "--api-socket", sock}, &out, &errb2); code != 1 || !strings.Contains(errb2.String(), "another process is serving") {
		t.Errorf("second closd on a live socket: status %d, stderr %s", code, errb2.String())
	}
	if _, err := api.NewClient(sock).Summary(context.Background()); err != nil {
		t.Errorf("first closd's API after the refused second: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("status %d; stderr: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("closd did not stop within 10 s")
	}
	if !strings.Contains(errb.String(), `"msg":"closd stopped"`) {
		t.Errorf("no stop message in %s", errb.String())
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("API socket left after shutdown: %v", err)
	}
}
