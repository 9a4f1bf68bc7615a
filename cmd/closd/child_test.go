package main

import (
	"os"
	"testing"

	"github.com/closnet/clos/internal/bfd"
)

// TestMain lets this test binary be closd's BFD child, as main does.
func TestMain(m *testing.M) {
	bfd.MaybeRunChild()
	os.Exit(m.Run())
}
