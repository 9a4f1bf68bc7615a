package main

import (
	"github.com/closnet/clos/internal/api"
)

func init() {
	registerShow(showCommand{
		words:   []string{"bfd"},
		aliases: [][]string{{"bfd", "peers"}, {"bfd", "sessions"}},
		args:    "[PEER]",
		maxArgs: 1,
		summary: "BFD sessions: state, negotiated intervals, detection time, last down reason, counters",
		path: func(args []string) string {
			if len(args) == 1 {
				return api.BFDQuery(args[0])
			}
			return api.BFDQuery("")
		},
		render: decodeAs(api.RenderBFD),
	})
}
