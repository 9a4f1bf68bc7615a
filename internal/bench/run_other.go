//go:build !linux

package bench

import (
	"context"
	"errors"
)

func checkPlatform() error {
	return errors.New("clos bench runs on Linux only: it needs network namespaces")
}

func runOne(ctx context.Context, d string, o *Options) (Metrics, bool, error) {
	return Metrics{}, false, checkPlatform()
}
