package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/closnet/clos/internal/api"
)

func init() {
	register("show", command{
		summary: "show a running closd's state (BGP, FIB, interfaces, ...)",
		run:     runShow,
	})
}

// A showCommand is one `clos show` subject, like "bgp summary" or "fib".
// Each registers itself with registerShow from an init function in the file
// that owns it (show_bfd.go, show_hosts.go, ...), so adding one touches no
// shared code. The API answer is fetched here; the entry only names the
// endpoint and renders the JSON.
type showCommand struct {
	// words selects the entry: {"bgp", "summary"}. aliases are other
	// spellings ({"bgp", "neighbors"}).
	words   []string
	aliases [][]string
	// args is the usage of the words that may follow, like "[ADDR]";
	// maxArgs is how many may.
	args    string
	maxArgs int
	// summary is one line for the usage text.
	summary string
	// path is the API endpoint for the words that follow.
	path func(args []string) string
	// render writes the endpoint's JSON answer as aligned text.
	render func(w io.Writer, body []byte, args []string) error
}

var showCommands []showCommand

func registerShow(c showCommand) {
	for _, o := range showCommands {
		for _, w := range append([][]string{o.words}, o.aliases...) {
			for _, nw := range append([][]string{c.words}, c.aliases...) {
				if slices.Equal(w, nw) {
					panic("clos: show subject registered twice: " + strings.Join(nw, " "))
				}
			}
		}
	}
	showCommands = append(showCommands, c)
	slices.SortFunc(showCommands, func(a, b showCommand) int {
		return strings.Compare(strings.Join(a.words, " "), strings.Join(b.words, " "))
	})
}

// decodeAs is the render of an entry whose JSON decodes into T and is
// written by f.
func decodeAs[T any](f func(io.Writer, T) error) func(io.Writer, []byte, []string) error {
	return func(w io.Writer, body []byte, _ []string) error {
		var v T
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return f(w, v)
	}
}

func (c showCommand) usage() string {
	s := strings.Join(c.words, " ")
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

func showUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: clos show [--socket PATH | --node NAME] [--json] SUBJECT")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "subjects:")
	width := 0
	for _, c := range showCommands {
		width = max(width, len(c.usage()))
	}
	for _, c := range showCommands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.usage(), c.summary)
	}
	fmt.Fprint(w, `
Asks a running closd over its control API (a unix socket) and prints what
it says, laid out like vtysh. Flags may come before or after the words.

`+targetFlagsUsage+`
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

// lookupShow finds the entry whose words are the longest prefix of words,
// or explains on stderr what would be valid.
func lookupShow(words []string, stderr io.Writer) (showCommand, []string, bool) {
	best, bestLen := -1, 0
	for i, c := range showCommands {
		for _, w := range append([][]string{c.words}, c.aliases...) {
			if len(w) > bestLen && len(words) >= len(w) && slices.Equal(words[:len(w)], w) {
				best, bestLen = i, len(w)
			}
		}
	}
	if best >= 0 {
		return showCommands[best], words[bestLen:], true
	}
	// Say what may follow the longest prefix that some entry starts with.
	depth := 0
	for _, c := range showCommands {
		n := 0
		for n < len(c.words) && n < len(words) && c.words[n] == words[n] {
			n++
		}
		depth = max(depth, n)
	}
	var valid []string
	for _, c := range showCommands {
		if len(c.words) > depth && slices.Equal(c.words[:depth], words[:depth]) {
			v := strings.Join(c.words[depth:depth+1], " ")
			if len(c.words) == depth+1 && c.args != "" {
				v += " " + c.args
			}
			if !slices.Contains(valid, v) {
				valid = append(valid, v)
			}
		}
	}
	if depth == 0 {
		got := "nothing"
		if len(words) > 0 {
			got = fmt.Sprintf("%q", words[0])
		}
		fmt.Fprintf(stderr, "clos show: unknown subject %s; valid: %s (see clos show --help)\n", got, strings.Join(valid, ", "))
		return showCommand{}, nil, false
	}
	prefix := strings.Join(words[:depth], " ")
	if len(words) == depth {
		fmt.Fprintf(stderr, "clos show %s: want one of: %s\n", prefix, strings.Join(valid, ", "))
	} else {
		fmt.Fprintf(stderr, "clos show %s: unknown subcommand %q; valid: %s\n", prefix, words[depth], strings.Join(valid, ", "))
	}
	return showCommand{}, nil, false
}

func show(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, ok := parseTarget("show", args, nil, stderr)
	if !ok {
		return 2
	}
	if t.help {
		showUsage(stdout)
		return 0
	}
	c, rest, ok := lookupShow(t.words, stderr)
	if !ok {
		return 2
	}
	if len(rest) > c.maxArgs {
		what := "nothing"
		if c.maxArgs > 0 {
			what = "at most " + c.args
		}
		fmt.Fprintf(stderr, "clos show %s: unexpected %q; give %s\n", strings.Join(c.words, " "), rest[c.maxArgs], what)
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	body, err := api.NewClient(t.socket).Get(ctx, c.path(rest))
	if err != nil {
		fmt.Fprintf(stderr, "clos show: %v\n", err)
		if se, ok := err.(*api.StatusError); ok && se.Status == 400 {
			return 2
		}
		return 1
	}
	if t.json {
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			fmt.Fprintf(stderr, "clos show: %s answered something that is not JSON: %v\n", t.socket, err)
			return 1
		}
		out.WriteString("\n")
		stdout.Write(out.Bytes())
		return 0
	}
	if err := c.render(stdout, body, rest); err != nil {
		fmt.Fprintf(stderr, "clos show: decoding %s's answer: %v\n", t.socket, err)
		return 1
	}
	return 0
}
