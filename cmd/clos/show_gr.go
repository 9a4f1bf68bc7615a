package main

import (
	"github.com/closnet/clos/internal/api"
)

func init() {
	registerShow(showCommand{
		words:   []string{"bgp", "graceful-restart"},
		aliases: [][]string{{"bgp", "neighbors", "graceful-restart"}},
		args:    "[NEIGHBOR]",
		maxArgs: 1,
		summary: "graceful restart: our mode, timers and restart phase; per neighbor the capabilities sent and received, helper state, End-of-RIB",
		path: func(args []string) string {
			if len(args) == 1 {
				return api.GRQuery(args[0])
			}
			return api.GRQuery("")
		},
		render: decodeAs(api.RenderGR),
	})
}
