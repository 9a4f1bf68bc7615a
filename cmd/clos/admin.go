package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/daemon"
)

// The admin verbs change a running closd through its control API: they
// are the only ones that POST.
func init() {
	register("neighbor", command{
		summary: "shut a BGP neighbor down (with an RFC 9003 message) or enable it",
		run:     func(args []string, o, e io.Writer) int { return neighborVerb(context.Background(), args, o, e) },
	})
	register("clear", command{
		summary: "reset BGP sessions, hard or soft (route refresh in/out)",
		run:     func(args []string, o, e io.Writer) int { return clearVerb(context.Background(), args, o, e) },
	})
	register("reload", command{
		summary: "make closd read its config file again (as SIGHUP)",
		run:     func(args []string, o, e io.Writer) int { return reloadVerb(context.Background(), args, o, e) },
	})
}

func neighborUsage(w io.Writer) {
	fmt.Fprint(w, `usage: clos neighbor shutdown ADDR [--message TEXT] [--socket PATH | --node NAME] [--json]
       clos neighbor enable ADDR [--socket PATH | --node NAME] [--json]

shutdown closes the session with Cease/Administrative Shutdown carrying
TEXT (RFC 9003, at most 255 octets) and keeps it down, refusing the
peer's connections, until enable. It lasts until enable or a restart of
closd; a reload keeps it.

`+targetFlagsUsage+`  --message TEXT the shutdown communication sent to the peer

examples:
  clos neighbor shutdown 10.0.0.1 --message "maintenance, back at 16:00"
  clos neighbor enable 10.0.0.1 --node leaf1
`)
}

func clearUsage(w io.Writer) {
	fmt.Fprint(w, `usage: clos clear bgp ADDR|all [--soft | --in | --out] [--socket PATH | --node NAME] [--json]

Without a flag the session is reset hard: closed with Cease/Administrative
Reset and opened again. --in asks the peer to send its routes again
(ROUTE-REFRESH, RFC 2918) so import policy runs over them; --out sends ours
again; --soft does both. Soft clears keep the session and skip neighbors
that are not established.

`+targetFlagsUsage+`
examples:
  clos clear bgp 10.0.0.1
  clos clear bgp all --soft --node leaf1
`)
}

func reloadUsage(w io.Writer) {
	fmt.Fprint(w, `usage: clos reload [--socket PATH | --node NAME] [--json]

closd reads its config file again, as on SIGHUP. Unchanged neighbors keep
their sessions, changed policy is applied with a soft refresh, removed
neighbors are closed with Cease/Peer De-configured and new ones start. A
file with an error is refused with the precise reason, and the running
config stays.

`+targetFlagsUsage)
}

// post sends one admin request and prints the answer: JSON with --json,
// else the text f makes of it.
func post(ctx context.Context, verb string, t target, path string, body any, stdout, stderr io.Writer, text func(body []byte) (string, error)) int {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	b, err := api.NewClient(t.socket).Post(ctx, path, body)
	if err != nil {
		fmt.Fprintf(stderr, "clos %s: %v\n", verb, err)
		if se, ok := err.(*api.StatusError); ok && (se.Status == 400 || se.Status == 422) {
			return 2
		}
		return 1
	}
	return printAnswer(verb, t, b, stdout, stderr, text)
}

// printAnswer prints closd's answer b to an admin request: indented JSON
// with --json, else the text f makes of it.
func printAnswer(verb string, t target, b []byte, stdout, stderr io.Writer, text func(body []byte) (string, error)) int {
	if t.json {
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			fmt.Fprintf(stderr, "clos %s: %s answered something that is not JSON: %v\n", verb, t.socket, err)
			return 1
		}
		out.WriteString("\n")
		stdout.Write(out.Bytes())
		return 0
	}
	s, err := text(b)
	if err != nil {
		fmt.Fprintf(stderr, "clos %s: decoding %s's answer: %v\n", verb, t.socket, err)
		return 1
	}
	io.WriteString(stdout, s)
	return 0
}

func actionText(body []byte) (string, error) {
	var r api.ActionResult
	if err := json.Unmarshal(body, &r); err != nil {
		return "", err
	}
	if len(r.Neighbors) == 0 {
		return r.Action + ": no neighbor to act on\n", nil
	}
	var b strings.Builder
	for _, n := range r.Neighbors {
		fmt.Fprintf(&b, "%s: %s\n", n, r.Action)
	}
	return b.String(), nil
}

func neighborVerb(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, ok := parseTarget("neighbor", args, []string{"message TEXT"}, stderr)
	if !ok {
		return 2
	}
	if t.help {
		neighborUsage(stdout)
		return 0
	}
	if len(t.words) != 2 || (t.words[0] != "shutdown" && t.words[0] != "enable") {
		fmt.Fprintln(stderr, "clos neighbor: want shutdown ADDR [--message TEXT] or enable ADDR (see clos neighbor --help)")
		return 2
	}
	addr, err := netip.ParseAddr(t.words[1])
	if err != nil {
		fmt.Fprintf(stderr, "clos neighbor %s: %q: want the neighbor's address like 10.0.0.1\n", t.words[0], t.words[1])
		return 2
	}
	msg, hasMsg := t.flags["message"]
	var body any
	if t.words[0] == "enable" {
		if hasMsg {
			fmt.Fprintln(stderr, "clos neighbor enable: --message is for shutdown")
			return 2
		}
	} else {
		if err := daemon.CheckShutdownMessage(msg); err != nil {
			fmt.Fprintf(stderr, "clos neighbor shutdown: %v\n", err)
			return 2
		}
		body = api.ShutdownRequest{Message: msg}
	}
	return post(ctx, "neighbor "+t.words[0], t, api.NeighborsPath(addr.String())+"/"+t.words[0], body, stdout, stderr, actionText)
}

func clearVerb(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// --soft, --in and --out take no value: pull them out before the
	// shared flags.
	mode := daemon.ClearHard
	var rest []string
	for _, a := range args {
		switch strings.TrimLeft(a, "-") {
		case "soft", "in", "out":
			if strings.HasPrefix(a, "-") {
				if mode != daemon.ClearHard {
					fmt.Fprintln(stderr, "clos clear: give one of --soft, --in, --out")
					return 2
				}
				mode = daemon.ClearMode(strings.TrimLeft(a, "-"))
				continue
			}
		}
		rest = append(rest, a)
	}
	t, ok := parseTarget("clear", rest, nil, stderr)
	if !ok {
		return 2
	}
	if t.help {
		clearUsage(stdout)
		return 0
	}
	if len(t.words) != 2 || t.words[0] != "bgp" {
		fmt.Fprintln(stderr, "clos clear: want bgp ADDR|all [--soft|--in|--out] (see clos clear --help)")
		return 2
	}
	path := "/v1/bgp/clear"
	if t.words[1] != "all" {
		addr, err := netip.ParseAddr(t.words[1])
		if err != nil {
			fmt.Fprintf(stderr, "clos clear bgp: %q: want a neighbor's address like 10.0.0.1, or all\n", t.words[1])
			return 2
		}
		path = api.NeighborsPath(addr.String()) + "/clear"
	}
	return post(ctx, "clear", t, path, api.ClearRequest{Mode: mode}, stdout, stderr, actionText)
}

func reloadVerb(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, ok := parseTarget("reload", args, nil, stderr)
	if !ok {
		return 2
	}
	if t.help {
		reloadUsage(stdout)
		return 0
	}
	if len(t.words) > 0 {
		fmt.Fprintf(stderr, "clos reload: unexpected %q; reload takes only flags\n", t.words[0])
		return 2
	}
	return post(ctx, "reload", t, "/v1/config/reload", nil, stdout, stderr, func(body []byte) (string, error) {
		var r daemon.ReloadReport
		if err := json.Unmarshal(body, &r); err != nil {
			return "", err
		}
		return api.RenderReload(r), nil
	})
}
