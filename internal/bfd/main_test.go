package bfd

import (
	"os"
	"testing"
)

// TestMain lets this test binary serve as the BFD child of the Clients the
// tests start.
func TestMain(m *testing.M) {
	MaybeRunChild()
	os.Exit(m.Run())
}
