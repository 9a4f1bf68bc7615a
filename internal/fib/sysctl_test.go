package fib

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSysctl(t *testing.T, root, key, val string) {
	t.Helper()
	p := filepath.Join(root, strings.ReplaceAll(key, ".", "/"))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(val+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckSysctls(t *testing.T) {
	root := t.TempDir()
	good := map[string]string{
		"net.ipv4.ip_forward":                           "1",
		"net.ipv6.conf.all.forwarding":                  "1",
		"net.ipv4.fib_multipath_hash_policy":            "1",
		"net.ipv6.fib_multipath_hash_policy":            "1",
		"net.ipv4.conf.all.ignore_routes_with_linkdown": "1",
		"net.ipv6.conf.all.ignore_routes_with_linkdown": "1",
		"net.ipv4.nexthop_compat_mode":                  "0",
	}
	for k, v := range good {
		writeSysctl(t, root, k, v)
	}
	if w := CheckSysctls(root); len(w) != 0 {
		t.Fatalf("all good, got %v", w)
	}
	writeSysctl(t, root, "net.ipv4.fib_multipath_hash_policy", "0")
	writeSysctl(t, root, "net.ipv4.nexthop_compat_mode", "1")
	os.Remove(filepath.Join(root, "net/ipv6/conf/all/forwarding"))
	w := CheckSysctls(root)
	if len(w) != 3 {
		t.Fatalf("want 3 warnings, got %v", w)
	}
	want := map[string]string{
		"net.ipv6.conf.all.forwarding":       "sysctl -w net.ipv6.conf.all.forwarding=1",
		"net.ipv4.fib_multipath_hash_policy": "sysctl -w net.ipv4.fib_multipath_hash_policy=1",
		"net.ipv4.nexthop_compat_mode":       "sysctl -w net.ipv4.nexthop_compat_mode=0",
	}
	for _, x := range w {
		if want[x.Key] != x.Fix {
			t.Errorf("%s: fix %q, want %q", x.Key, x.Fix, want[x.Key])
		}
		if x.Key == "net.ipv6.conf.all.forwarding" && x.Have != "" {
			t.Errorf("missing file should read as unreadable, got %q", x.Have)
		}
		if !strings.Contains(x.String(), x.Fix) {
			t.Errorf("String() lacks the fix: %s", x)
		}
	}
}
