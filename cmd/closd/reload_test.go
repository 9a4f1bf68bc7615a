package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/closnet/clos/internal/api"
)

// TestSIGHUPAndMetrics runs closd with metrics on, scrapes them, reloads
// it with SIGHUP into a config with one more network, and sends a broken
// file that is refused while the daemon goes on.
func TestSIGHUPAndMetrics(t *testing.T) {
	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	port, mport := free(), free()
	dir := t.TempDir()
	path := filepath.Join(dir, "closd.yaml")
	sock := filepath.Join(dir, "closd.sock")
	cfg := fmt.Sprintf("router-id: 10.0.0.1\nasn: 65001\nlisten: {address: 127.0.0.1, port: %d}\nmetrics: {address: 127.0.0.1:%d}\nnetworks: [10.1.0.0/24]\n", port, mport)
	os.WriteFile(path, []byte(cfg), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config", path, "--fib=false", "--log-format", "json", "--api-socket", sock}, &out, &errb)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("closd did not stop within 10 s")
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 10 s; stderr: %s", what, errb.String())
			}
		}
	}
	wait("start", func() bool { return strings.Contains(errb.String(), `"msg":"closd running"`) })

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nclosd_up 1\n") || !strings.Contains(string(body), `closd_rib_prefixes{family="ipv4-unicast"} 1`) {
		t.Errorf("metrics:\n%s", body)
	}

	routes := func() string {
		r, err := api.NewClient(sock).Routes(context.Background(), "")
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(r.Routes)
	}
	os.WriteFile(path, []byte(strings.Replace(cfg, "[10.1.0.0/24]", "[10.1.0.0/24, 10.1.1.0/24]", 1)), 0o644)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	wait("10.1.1.0/24 after SIGHUP", func() bool { return strings.Contains(routes(), "10.1.1.0/24") })
	wait("the reload logged", func() bool { return strings.Contains(errb.String(), `"msg":"config reloaded"`) })

	os.WriteFile(path, []byte("router-id: 10.0.0.1\nasn: nope\n"), 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	wait("the refusal logged", func() bool {
		return strings.Contains(errb.String(), `"msg":"config reload refused; the running config stays"`) && strings.Contains(errb.String(), "closd.yaml:2")
	})
	if !strings.Contains(routes(), "10.1.1.0/24") {
		t.Errorf("a refused reload changed the routes: %s", routes())
	}
}
