package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/closnet/clos/internal/config"
	"github.com/closnet/clos/internal/lab"
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
	node, labName := "", ""
	valid := "--socket PATH, --node NAME [--lab LAB], --json"
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
		case name == "socket" || name == "node" || name == "lab" || isExtra:
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
			case "lab":
				labName = val
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
		sock, err := nodeSocket(lab.BaseDir(), labName, node)
		if err != nil {
			fmt.Fprintf(stderr, "clos %s: --node %s: %v\n", verb, node, err)
			return t, false
		}
		t.socket = sock
	} else if labName != "" {
		fmt.Fprintf(stderr, "clos %s: --lab goes with --node\n", verb)
		return t, false
	}
	if t.socket == "" {
		t.socket = config.DefaultAPISocket
	}
	return t, true
}

const targetFlagsUsage = `  --socket PATH  the API socket (default ` + config.DefaultAPISocket + `, closd's api.socket)
  --node NAME    a node's closd: in a running lab (the only one up with
                 that node, or --lab LAB) the socket the lab gave it; on a
                 switch /run/closd/NAME.sock, where clos plan puts api.socket
  --json         print the API's JSON instead of text
`

// nodeSocket finds node's API socket. A closd node of a running lab has its
// own (the lab's state names it): the lab named, or the only lab up with a
// closd node of that name. Otherwise it is /run/closd/NODE.sock, where
// clos plan's configs put it on a real switch.
func nodeSocket(base, labName, node string) (string, error) {
	labs := []string{labName}
	if labName == "" {
		var err error
		if labs, err = lab.List(base); err != nil {
			return "", err
		}
	}
	var found, frr []string
	sock := ""
	for _, l := range labs {
		s, err := lab.Load(base, l)
		if err != nil {
			if labName != "" {
				return "", err
			}
			continue
		}
		n, ok := s.Node(node)
		switch {
		case !ok:
		case n.Socket != "":
			found = append(found, l)
			sock = n.Socket
		case n.Kind != "":
			frr = append(frr, l)
		}
	}
	switch {
	case len(found) == 1:
		return sock, nil
	case len(found) > 1:
		return "", fmt.Errorf("labs %v all have a closd node %s; pick one with --lab", found, node)
	case len(frr) > 0:
		return "", fmt.Errorf("in lab %s it runs FRR, which has no closd API: use vtysh in its namespace", frr[0])
	case labName != "":
		return "", fmt.Errorf("lab %s has no node %s", labName, node)
	}
	return nodeSocketDir + node + ".sock", nil
}
