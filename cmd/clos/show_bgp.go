package main

import (
	"encoding/json"
	"io"
	"net/url"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/daemon"
)

func init() {
	registerShow(showCommand{
		words:   []string{"bgp", "summary"},
		summary: "neighbors, AS, state, uptime and prefix counts, like vtysh",
		path:    func([]string) string { return api.SummaryPath },
		render:  decodeAs(api.RenderSummary),
	})
	registerShow(showCommand{
		words:   []string{"bgp", "neighbor"},
		aliases: [][]string{{"bgp", "neighbors"}},
		args:    "[ADDR [received-routes]]",
		maxArgs: 2,
		summary: "capabilities, timers, counters and last errors of each neighbor; received-routes: its routes before the import policy",
		path: func(args []string) string {
			if len(args) == 2 {
				return api.NeighborsPath(args[0]) + "/" + url.PathEscape(args[1])
			}
			if len(args) == 1 {
				return api.NeighborsPath(args[0])
			}
			return api.NeighborsPath("")
		},
		render: func(w io.Writer, body []byte, args []string) error {
			if len(args) == 2 {
				return decodeAs(api.RenderReceived)(w, body, args)
			}
			if len(args) == 1 {
				var n daemon.NeighborStatus
				if err := json.Unmarshal(body, &n); err != nil {
					return err
				}
				return api.RenderNeighbors(w, []daemon.NeighborStatus{n})
			}
			var n api.Neighbors
			if err := json.Unmarshal(body, &n); err != nil {
				return err
			}
			return api.RenderNeighbors(w, n.Neighbors)
		},
	})
	registerShow(showCommand{
		words:   []string{"bgp", "routes"},
		aliases: [][]string{{"bgp", "route"}},
		args:    "[PREFIX]",
		maxArgs: 1,
		summary: "best paths of the Loc-RIB, or those for one prefix or address",
		path: func(args []string) string {
			if len(args) == 1 {
				return api.RoutesPath(args[0])
			}
			return api.RoutesPath("")
		},
		render: decodeAs(func(w io.Writer, r api.Routes) error { return api.RenderRoutes(w, r.Routes) }),
	})
}
