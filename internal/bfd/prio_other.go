//go:build !linux

package bfd

func raiseThreadPriority() {}
