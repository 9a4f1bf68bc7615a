package main

import (
	"github.com/closnet/clos/internal/api"
)

func init() {
	registerShow(showCommand{
		words:   []string{"services"},
		aliases: [][]string{{"service"}},
		args:    "[NAME]",
		maxArgs: 1,
		summary: "anycast services: addresses, check history, announced or not and why",
		path: func(args []string) string {
			if len(args) == 1 {
				return api.ServicesQuery(args[0])
			}
			return api.ServicesQuery("")
		},
		render: decodeAs(api.RenderServices),
	})
}
