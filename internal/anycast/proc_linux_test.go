package anycast

import (
	"fmt"
	"github.com/closnet/clos/internal/testenv"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestExecCheckKillsProcessGroupAtTimeout(t *testing.T) {
	sh := testenv.RequireTool(t, "sh")
	testenv.RequireTool(t, "sleep")
	pidFile := t.TempDir() + "/pid"
	start := time.Now()
	// The shell forks a sleep that inherits its output; both must die at
	// the deadline and the check must return without waiting for them.
	err := Execute(ctxTimeout(t, 300*time.Millisecond), CheckSpec{Kind: CheckExec, Command: []string{sh, "-c", "sleep 30 & echo $! > " + pidFile + "; wait"}})
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "killed at timeout") {
		t.Fatalf("got %v, want killed at timeout", err)
	}
	if elapsed > 10*time.Second {
		t.Fatalf("check returned after %v; the hung child held it", elapsed)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			break // gone
		}
		// A zombie waiting for a reaper is dead too.
		if f := strings.Fields(string(st)); len(f) > 2 && f[2] == "Z" {
			break
		}
		if i == 50 {
			t.Fatalf("child sleep %d still alive after the check's timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
