//go:build !linux

package bfd

// MaybeRunChild returns at once: the BFD child process is Linux only
// (NewClient fails elsewhere).
func MaybeRunChild() {}
