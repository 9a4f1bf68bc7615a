package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGracefulRestartDefaults(t *testing.T) {
	c, err := Parse("x.yaml", []byte("router-id: 10.0.0.1\nasn: 65001\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GracefulRestart != nil {
		t.Errorf("section appeared from nowhere: %+v", c.GracefulRestart)
	}
	want := GRSettings{Mode: GRRestart, RestartTime: 120 * time.Second, StalepathTime: 360 * time.Second, SelectDeferTime: 60 * time.Second, Notification: true}
	if d := cmp.Diff(want, c.GracefulRestartSettings(true)); d != "" {
		t.Errorf("with the FIB (-want +got):\n%s", d)
	}
	want.Mode = GRHelper
	if d := cmp.Diff(want, c.GracefulRestartSettings(false)); d != "" {
		t.Errorf("without the FIB (-want +got):\n%s", d)
	}
	// A server's anycast services live only while closd checks them.
	c.Role = "host"
	if d := cmp.Diff(want, c.GracefulRestartSettings(true)); d != "" {
		t.Errorf("role host with the FIB (-want +got):\n%s", d)
	}
}

func TestGracefulRestartParseAndRoundTrip(t *testing.T) {
	in := "router-id: 10.0.0.1\nasn: 65001\ngraceful-restart:\n  mode: helper\n  restart-time: 30s\n  stalepath-time: 2m\n  select-defer-time: 5s\n  notification: false\n"
	c, err := Parse("x.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := GRSettings{Mode: GRHelper, RestartTime: 30 * time.Second, StalepathTime: 2 * time.Minute, SelectDeferTime: 5 * time.Second}
	if d := cmp.Diff(want, c.GracefulRestartSettings(true)); d != "" {
		t.Errorf("settings (-want +got):\n%s", d)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "graceful-restart:\n  mode: helper\n  restart-time: 30s\n") {
		t.Errorf("marshalled:\n%s", out)
	}
	c2, err := Parse("again", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if d := cmp.Diff(c, c2, cmpOpts...); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	// Only the mode given: the timers keep their defaults.
	c, err = Parse("x.yaml", []byte("router-id: 10.0.0.1\nasn: 65001\ngraceful-restart: {mode: 'off'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.GracefulRestartSettings(true); s.Mode != GROff || s.RestartTime != DefaultGRRestartTime {
		t.Errorf("mode off: %+v", s)
	}
}

func TestGracefulRestartErrors(t *testing.T) {
	const base = "router-id: 10.0.0.1\nasn: 65001\ngraceful-restart:\n"
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"mode", base + "  mode: restarting\n", []string{`x.yaml:4: graceful-restart.mode: "restarting"; valid: restart, helper, off`}},
		{"restart-time big", base + "  restart-time: 2h\n", []string{"x.yaml:4: graceful-restart.restart-time: 2h0m0s; want whole seconds 1s..4095s"}},
		{"restart-time fraction", base + "  restart-time: 1500ms\n", []string{"graceful-restart.restart-time: 1.5s; want whole seconds"}},
		{"restart-time unit", base + "  restart-time: 120\n", []string{`x.yaml:4: graceful-restart.restart-time: "120" has no unit`}},
		{"stalepath", base + "  stalepath-time: 10ms\n", []string{"x.yaml:4: graceful-restart.stalepath-time: 10ms; want 1s..1h0m0s"}},
		{"select-defer", base + "  select-defer-time: 3h\n", []string{"x.yaml:4: graceful-restart.select-defer-time: 3h0m0s; want 1s..1h0m0s"}},
		{"typo", base + "  restart_time: 10s\n", []string{"x.yaml:4: graceful-restart.restart_time: unknown field; did you mean restart-time?"}},
		{"not a map", base[:len(base)-1] + " yes\n", []string{"x.yaml:3: graceful-restart:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error for\n%s", tc.in)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}
