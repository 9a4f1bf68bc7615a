package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/daemon"
)

func init() {
	register("show", command{
		summary: "show a running closd's BGP state (summary, neighbors, routes)",
		run:     runShow,
	})
}

// nodeSocketDir is where the lab planner puts each node's API socket:
// it writes api.socket: /run/closd/NODE.sock into the node's closd config.
const nodeSocketDir = "/run/closd/"

var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func showUsage(w io.Writer) {
	fmt.Fprint(w, `usage: clos show [--socket PATH | --node NAME] [--json] bgp summary
       clos show [--socket PATH | --node NAME] [--json] bgp neighbor [ADDR]
       clos show [--socket PATH | --node NAME] [--json] bgp routes [PREFIX|ADDR]

Asks a running closd over its control API (a unix socket) and prints what
it says, laid out like vtysh. Flags may come before or after the words.

  --socket PATH  the API socket (default `+config.DefaultAPISocket+`, closd's api.socket)
  --node NAME    a lab node's closd: /run/closd/NAME.sock, where clos plan
                 puts each node's api.socket
  --json         print the API's JSON instead of text

examples:
  clos show bgp summary
  clos show --node leaf1 bgp neighbor 10.0.0.0
  clos show --socket /run/closd/closd.sock bgp routes 10.2.0.0/24
  clos show bgp routes 10.2.3.4 --json
`)
}

func runShow(args []string, stdout, stderr io.Writer) int {
	return show(context.Background(), args, stdout, stderr)
}

func show(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	socket, node, asJSON := "", "", false
	var words []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			words = append(words, a)
			continue
		}
		switch name {
		case "h", "help":
			showUsage(stdout)
			return 0
		case "json":
			if hasVal {
				fmt.Fprintf(stderr, "clos show: --json takes no value\n")
				return 2
			}
			asJSON = true
		case "socket", "node":
			if !hasVal {
				if i+1 >= len(args) {
					fmt.Fprintf(stderr, "clos show: --%s needs a value\n", name)
					return 2
				}
				i++
				val = args[i]
			}
			if name == "socket" {
				socket = val
			} else {
				node = val
			}
		default:
			fmt.Fprintf(stderr, "clos show: unknown flag %q; valid: --socket PATH, --node NAME, --json (see clos show --help)\n", a)
			return 2
		}
	}
	if socket != "" && node != "" {
		fmt.Fprintln(stderr, "clos show: give --socket or --node, not both")
		return 2
	}
	if node != "" {
		if !nodeName.MatchString(node) {
			fmt.Fprintf(stderr, "clos show: --node %q: want a lab node name like leaf1\n", node)
			return 2
		}
		socket = nodeSocketDir + node + ".sock"
	}
	if socket == "" {
		socket = config.DefaultAPISocket
	}

	if len(words) == 0 || words[0] != "bgp" {
		got := "nothing"
		if len(words) > 0 {
			got = fmt.Sprintf("%q", words[0])
		}
		fmt.Fprintf(stderr, "clos show: unknown subject %s; valid: bgp (see clos show --help)\n", got)
		return 2
	}
	if len(words) < 2 {
		fmt.Fprintln(stderr, "clos show bgp: want one of: summary, neighbor [ADDR], routes [PREFIX]")
		return 2
	}
	var path string
	var render func(w io.Writer, body []byte) error
	switch words[1] {
	case "summary":
		if len(words) > 2 {
			fmt.Fprintf(stderr, "clos show bgp summary: unexpected %q\n", words[2])
			return 2
		}
		path = api.SummaryPath
		render = func(w io.Writer, body []byte) error {
			var s api.Summary
			if err := json.Unmarshal(body, &s); err != nil {
				return err
			}
			return api.RenderSummary(w, s)
		}
	case "neighbor", "neighbors":
		if len(words) > 3 {
			fmt.Fprintf(stderr, "clos show bgp neighbor: unexpected %q; give at most one address\n", words[3])
			return 2
		}
		if len(words) == 3 {
			path = api.NeighborsPath(words[2])
			render = func(w io.Writer, body []byte) error {
				var n daemon.NeighborStatus
				if err := json.Unmarshal(body, &n); err != nil {
					return err
				}
				return api.RenderNeighbors(w, []daemon.NeighborStatus{n})
			}
		} else {
			path = api.NeighborsPath("")
			render = func(w io.Writer, body []byte) error {
				var n api.Neighbors
				if err := json.Unmarshal(body, &n); err != nil {
					return err
				}
				return api.RenderNeighbors(w, n.Neighbors)
			}
		}
	case "routes", "route":
		if len(words) > 3 {
			fmt.Fprintf(stderr, "clos show bgp routes: unexpected %q; give at most one prefix\n", words[3])
			return 2
		}
		prefix := ""
		if len(words) == 3 {
			prefix = words[2]
		}
		path = api.RoutesPath(prefix)
		render = func(w io.Writer, body []byte) error {
			var r api.Routes
			if err := json.Unmarshal(body, &r); err != nil {
				return err
			}
			return api.RenderRoutes(w, r.Routes)
		}
	default:
		fmt.Fprintf(stderr, "clos show bgp: unknown subcommand %q; valid: summary, neighbor [ADDR], routes [PREFIX]\n", words[1])
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	body, err := api.NewClient(socket).Get(ctx, path)
	if err != nil {
		fmt.Fprintf(stderr, "clos show: %v\n", err)
		if se, ok := err.(*api.StatusError); ok && se.Status == 400 {
			return 2
		}
		return 1
	}
	if asJSON {
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			fmt.Fprintf(stderr, "clos show: %s answered something that is not JSON: %v\n", socket, err)
			return 1
		}
		out.WriteString("\n")
		stdout.Write(out.Bytes())
		return 0
	}
	if err := render(stdout, body); err != nil {
		fmt.Fprintf(stderr, "clos show: decoding %s's answer: %v\n", socket, err)
		return 1
	}
	return 0
}
