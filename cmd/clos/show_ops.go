package main

import (
	"io"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/daemon"
)

func init() {
	registerShow(showCommand{
		words:   []string{"bgp", "update-groups"},
		summary: "update groups: members, export policy, prefixes sent",
		path:    func([]string) string { return api.UpdateGroupsPath },
		render:  decodeAs(api.RenderUpdateGroups),
	})
	registerShow(showCommand{
		words:   []string{"fib"},
		summary: "routes closd wants in the kernel against the kernel's, with differences",
		path:    func([]string) string { return api.FIBPath },
		render:  decodeAs(func(w io.Writer, f daemon.FIBStatus) error { return api.RenderFIB(w, f) }),
	})
	registerShow(showCommand{
		words:   []string{"interfaces"},
		summary: "interfaces: state, addresses, BGP neighbors, routes through them",
		path:    func([]string) string { return api.InterfacesPath },
		render:  decodeAs(api.RenderInterfaces),
	})
}
