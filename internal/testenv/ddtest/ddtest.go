// Package ddtest holds what the engines' datadriven scenario tests share:
// the fake clock's epoch, how times are written relative to it, and the
// parsing of command arguments that fails the test with the argument's
// name.
package ddtest

import (
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// Epoch is the fake clock's start; scenario files give times as offsets
// from it.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Rel writes t as its offset from Epoch ("+1.5s"), and the zero time as
// "never".
func Rel(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "+" + t.Sub(Epoch).String()
}

// Now returns the time named by the command's t=DURATION argument, an
// offset from Epoch, or last when the command has none. A scenario's time
// never goes backwards: a t before last fails the test.
func Now(t *testing.T, d *datadriven.TestData, last time.Time) time.Time {
	t.Helper()
	if !d.HasArg("t") {
		return last
	}
	var s string
	d.ScanArgs(t, "t", &s)
	at := Epoch.Add(Duration(t, d, "t", s))
	if at.Before(last) {
		d.Fatalf(t, "time goes backwards: %s", s)
	}
	return at
}

// Duration parses v, the value of key, failing the test with key and the
// error when it is not a Go duration.
func Duration(t *testing.T, d *datadriven.TestData, key, v string) time.Duration {
	t.Helper()
	x, err := time.ParseDuration(v)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return x
}

// Int parses v, the value of key, failing the test with key and the error
// when it is not an integer.
func Int(t *testing.T, d *datadriven.TestData, key, v string) int {
	t.Helper()
	x, err := strconv.Atoi(v)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return x
}
