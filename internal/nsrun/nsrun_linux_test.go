package nsrun

import (
	"errors"
	"os"
	"testing"
)

func TestDo(t *testing.T) {
	ran := false
	if err := Do("", func() error { ran = true; return nil }); err != nil || !ran {
		t.Errorf("empty path: ran %v, err %v", ran, err)
	}
	if err := Do("/nonexistent/netns", func() error { t.Error("ran in a namespace that does not exist"); return nil }); err == nil {
		t.Error("a missing namespace gave no error")
	}
	if os.Geteuid() != 0 {
		return // setns needs CAP_SYS_ADMIN; the rest is for root
	}
	// Our own namespace: entering it is safe and must run fn and pass
	// its error through.
	want := errors.New("from fn")
	if err := Do("/proc/self/ns/net", func() error { return want }); !errors.Is(err, want) {
		t.Errorf("own namespace: %v, want fn's error", err)
	}
}
