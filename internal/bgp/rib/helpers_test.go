package rib

import (
	"net/netip"

	"github.com/closnet/clos/internal/bgp/wire"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func wireOpts() wire.Options { return wire.Options{AS4: true} }
