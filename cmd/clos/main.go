// Command clos is the operator's tool: plan a fabric, run it as a lab of
// network namespaces, simulate it, show a daemon's state and benchmark it.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// A command is one verb of clos. Each verb lives in its own file and
// registers itself in init, so main stays a dispatcher.
type command struct {
	summary string
	// run gets the arguments after the verb and returns the exit status:
	// 0 success, 1 the operation failed, 2 bad input (usage, config).
	run func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(name string, c command) {
	if _, dup := commands[name]; dup {
		panic("clos: command registered twice: " + name)
	}
	commands[name] = c
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "clos: unknown command %q; valid commands: %s\n", args[0], names())
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func names() string {
	var ns []string
	for n := range commands {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: clos COMMAND [ARGS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	var ns []string
	for n := range commands {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	for _, n := range ns {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'clos COMMAND --help' for the flags of one command.")
}
