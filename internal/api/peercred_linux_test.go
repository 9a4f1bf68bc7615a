package api

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/closnet/clos/internal/testenv"
)

// TestOtherUserRefused opens the socket's mode to everyone and connects as
// nobody: the peer-credential guard still answers 403, while root gets in.
func TestOtherUserRefused(t *testing.T) {
	testenv.RequireRoot(t)
	setpriv := testenv.RequireTool(t, "setpriv")
	curl := testenv.RequireTool(t, "curl")
	// t.TempDir's parent is 0700: nobody could not even reach the socket.
	dir, err := os.MkdirTemp("", "clos-api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "api.sock")
	srv, err := Start(sock, NewHandler(fixture(), info))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(t.Context())
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != SocketMode {
		t.Fatalf("socket mode %v %v, want %o", fi.Mode(), err, SocketMode)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	get := func(asNobody bool) string {
		args := []string{"-s", "--max-time", "5", "--unix-socket", sock, "http://closd/v1/bgp/summary"}
		cmd := exec.Command(curl, args...)
		if asNobody {
			cmd = exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", curl}, args...)...)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
		return string(out)
	}
	if out := get(false); !strings.Contains(out, `"local_as": 65001`) {
		t.Errorf("root: %s", out)
	}
	if out := get(true); !strings.Contains(out, "may not use closd's API") {
		t.Errorf("nobody: %s", out)
	}
}
