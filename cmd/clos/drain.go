package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/closnet/clos/internal/api"
	"github.com/closnet/clos/internal/daemon"
)

func init() {
	register("drain", command{
		summary: "take a host's anycast services out of the fabric gracefully",
		run:     func(args []string, stdout, stderr io.Writer) int { return drainVerb(true, args, stdout, stderr) },
	})
	register("undrain", command{
		summary: "put drained anycast services back (after their checks pass)",
		run:     func(args []string, stdout, stderr io.Writer) int { return drainVerb(false, args, stdout, stderr) },
	})
}

func drainUsage(w io.Writer, verb string) {
	fmt.Fprintf(w, "usage: clos %s [--service NAME] [--wait] [--socket PATH | --node NAME] [--json]\n\n", verb)
	if verb == "drain" {
		fmt.Fprint(w, `Drains every anycast service of a closd in host mode, or one with
--service: its addresses are re-announced with the GRACEFUL_SHUTDOWN
community and/or AS-path prepending (drain: in the config), so the fabric
moves traffic to the other instances, and withdrawn after the drain time.
Checks keep running. The services stay out until clos undrain.
--wait returns only once they are withdrawn.

`)
	} else {
		fmt.Fprint(w, `Reverses clos drain for every service (and the node drain), or one with
--service. A service still in its drain time is re-announced at once
without the drain attributes; one already withdrawn comes back once it
has passed rise checks since the withdrawal.

`)
	}
	fmt.Fprint(w, targetFlagsUsage)
	fmt.Fprintf(w, `  --service NAME one service (default: every service)
  --wait         wait until the drained services are withdrawn (drain)

examples:
  clos %s
  clos %s --service dns --node server1
`, verb, verb)
}

func drainVerb(drain bool, args []string, stdout, stderr io.Writer) int {
	verb, path := "drain", api.DrainPath
	if !drain {
		verb, path = "undrain", api.UndrainPath
	}
	var wait bool
	var rest []string
	for _, a := range args {
		if a == "--wait" || a == "-wait" {
			wait = true
			continue
		}
		rest = append(rest, a)
	}
	t, ok := parseTarget(verb, rest, []string{"service NAME"}, stderr)
	if !ok {
		return 2
	}
	if t.help {
		drainUsage(stdout, verb)
		return 0
	}
	if len(t.words) > 0 {
		fmt.Fprintf(stderr, "clos %s: unexpected %q; name one service with --service NAME\n", verb, t.words[0])
		return 2
	}
	if wait && !drain {
		fmt.Fprintln(stderr, "clos undrain: --wait only applies to drain")
		return 2
	}
	service := t.flags["service"]
	c := api.NewClient(t.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	body, err := c.Post(ctx, path, api.DrainRequest{Service: service})
	if err != nil {
		fmt.Fprintf(stderr, "clos %s: %v\n", verb, err)
		if se, ok := err.(*api.StatusError); ok && (se.Status == 400 || se.Status == 404) {
			return 2
		}
		return 1
	}
	var ans api.DrainAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		fmt.Fprintf(stderr, "clos %s: decoding %s's answer: %v\n", verb, t.socket, err)
		return 1
	}
	if wait {
		st, err := waitWithdrawn(c, service, ans.Services)
		if err != nil {
			fmt.Fprintf(stderr, "clos drain: %v\n", err)
			return 1
		}
		ans.Services = st
	}
	if t.json {
		out, _ := json.MarshalIndent(ans, "", "  ")
		stdout.Write(append(out, '\n'))
		return 0
	}
	fmt.Fprintf(stdout, "%s\n\n", ans.Done)
	if err := api.RenderServices(stdout, ans.Services); err != nil {
		fmt.Fprintf(stderr, "clos %s: %v\n", verb, err)
		return 1
	}
	return 0
}

// waitWithdrawn polls until the drained services are no longer announced,
// bounded by their drain deadlines plus a margin.
func waitWithdrawn(c *api.Client, service string, st daemon.ServicesStatus) (daemon.ServicesStatus, error) {
	var until time.Time
	for _, s := range st.Services {
		if s.DrainUntil.After(until) {
			until = s.DrainUntil
		}
	}
	limit := 10 * time.Second
	if d := time.Until(until); d > 0 {
		limit += d
	}
	deadline := time.Now().Add(limit)
	for {
		pending := 0
		for _, s := range st.Services {
			if (service == "" || s.Name == service) && s.Announced {
				pending++
			}
		}
		if pending == 0 {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%d services still announced after %v", pending, limit)
		}
		time.Sleep(100 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		body, err := c.Get(ctx, api.ServicesPath)
		cancel()
		if err != nil {
			return st, err
		}
		var next daemon.ServicesStatus
		if err := json.Unmarshal(body, &next); err != nil {
			return st, err
		}
		st = next
	}
}
