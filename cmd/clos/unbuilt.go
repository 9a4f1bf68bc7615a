package main

import (
	"fmt"
	"io"
)

// Verbs the design promises but this build does not carry yet. They exist so
// that a user gets a clear answer instead of "unknown command", and they fail:
// they never pretend to have done anything.
func init() {
	for name, issue := range map[string]string{
		"bench": "benchmark closd against FRR, BIRD and GoBGP",
	} {
		register(name, command{
			summary: issue + " [not in this build yet]",
			run: func(args []string, stdout, stderr io.Writer) int {
				fmt.Fprintf(stderr, "clos %s: this build of clos does not include %q yet: %s\n", name, name, issue)
				return 1
			},
		})
	}
}
