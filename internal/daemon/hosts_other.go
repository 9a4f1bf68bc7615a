//go:build !linux

package daemon

import (
	"errors"

	"github.com/closnet/clos/internal/neigh"
)

// defaultHostEnv: learning hosts reads the Linux neighbor table.
func defaultHostEnv() (neigh.Kernel, HostNet, func([]string) (HostWatcher, error), error) {
	return nil, nil, nil, errors.New("learning host routes needs Linux (its neighbor table over netlink)")
}
