package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/closnet/clos/internal/config"
)

// nodeSocketDir is where the lab planner puts each node's API socket:
// it writes api.socket: /run/closd/NODE.sock into the node's closd config.
const nodeSocketDir = "/run/closd/"

var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// target is what every verb that talks to a closd shares: which socket,
// whether to print JSON, and the words left once the flags are taken out.
type target struct {
	socket string
	json   bool
	help   bool
	words  []string
	// flags holds the verb's own flags (those named in extra) by name.
	flags map[string]string
}

// parseTarget takes --socket, --node, --json and --help, and the verb's own
// value flags named in extra, from anywhere in args. It reports a usage
// error on stderr and returns false.
func parseTarget(verb string, args []string, extra []string, stderr io.Writer) (target, bool) {
	t := target{flags: map[string]string{}}
	node := ""
	valid := "--socket PATH, --node NAME, --json"
	for _, e := range extra {
		valid += ", --" + e
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			t.words = append(t.words, a)
			continue
		}
		if a == "--" {
			t.words = append(t.words, args[i+1:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		isExtra := false
		for _, e := range extra {
			isExtra = isExtra || strings.SplitN(e, " ", 2)[0] == name
		}
		switch {
		case name == "h" || name == "help":
			t.help = true
			return t, true
		case name == "json":
			if hasVal {
				fmt.Fprintf(stderr, "clos %s: --json takes no value\n", verb)
				return t, false
			}
			t.json = true
		case name == "socket" || name == "node" || isExtra:
			if !hasVal {
				if i+1 >= len(args) {
					fmt.Fprintf(stderr, "clos %s: --%s needs a value\n", verb, name)
					return t, false
				}
				i++
				val = args[i]
			}
			switch name {
			case "socket":
				t.socket = val
			case "node":
				node = val
			default:
				t.flags[name] = val
			}
		default:
			fmt.Fprintf(stderr, "clos %s: unknown flag %q; valid: %s (see clos %s --help)\n", verb, a, valid, verb)
			return t, false
		}
	}
	if t.socket != "" && node != "" {
		fmt.Fprintf(stderr, "clos %s: give --socket or --node, not both\n", verb)
		return t, false
	}
	if node != "" {
		if !nodeName.MatchString(node) {
			fmt.Fprintf(stderr, "clos %s: --node %q: want a lab node name like leaf1\n", verb, node)
			return t, false
		}
		t.socket = nodeSocketDir + node + ".sock"
	}
	if t.socket == "" {
		t.socket = config.DefaultAPISocket
	}
	return t, true
}

const targetFlagsUsage = `  --socket PATH  the API socket (default ` + config.DefaultAPISocket + `, closd's api.socket)
  --node NAME    a lab node's closd: /run/closd/NAME.sock, where clos plan
                 puts each node's api.socket
  --json         print the API's JSON instead of text
`
