//go:build !linux

package nsrun

import (
	"errors"
	"path/filepath"
)

// Path is where `ip netns add NAME` pins namespace name.
func Path(name string) string { return filepath.Join("/run/netns", name) }

// Do runs fn when path is empty; network namespaces need Linux.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return errors.New("network namespaces need Linux")
}
