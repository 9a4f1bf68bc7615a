package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/closnet/clos/internal/api"
)

func init() {
	registerShow(showCommand{
		words:   []string{"hosts"},
		summary: "hosts learned from ARP/ND: interface, MAC, state, sequence, age, frozen",
		path:    func([]string) string { return api.HostsPath },
		render:  decodeAs(api.RenderHosts),
	})
	register("hosts", command{
		summary: "host routes admin: release a host frozen by flap detection",
		run:     runHosts,
	})
}

func hostsUsage(w io.Writer) {
	fmt.Fprint(w, `usage: clos hosts release ADDR|all [--socket PATH | --node NAME] [--json]

Unfreezes a host that flap detection froze (it moved more than move-limit
times within move-window) before freeze-hold ends, on one closd; "all"
releases every frozen host there. clos show hosts lists them.

`+targetFlagsUsage)
}

func runHosts(args []string, stdout, stderr io.Writer) int {
	t, ok := parseTarget("hosts", args, nil, stderr)
	if !ok {
		return 2
	}
	if t.help {
		hostsUsage(stdout)
		return 0
	}
	if len(t.words) != 2 || t.words[0] != "release" {
		fmt.Fprintf(stderr, "clos hosts: want: release ADDR|all; got %q (see clos hosts --help)\n", strings.Join(t.words, " "))
		return 2
	}
	target := t.words[1]
	if target != "all" {
		if _, err := netip.ParseAddr(target); err != nil {
			fmt.Fprintf(stderr, "clos hosts release: %q: want a host address like 10.1.0.10, or all\n", target)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	body, err := api.NewClient(t.socket).Post(ctx, api.HostsReleasePath, api.ReleaseRequest{IP: target})
	if err != nil {
		fmt.Fprintf(stderr, "clos hosts release: %v\n", err)
		return 1
	}
	return printAnswer("hosts release", t, body, stdout, stderr, func(body []byte) (string, error) {
		var r api.Released
		if err := json.Unmarshal(body, &r); err != nil {
			return "", err
		}
		if len(r.Released) == 0 {
			return fmt.Sprintf("nothing was frozen (%s)\n", target), nil
		}
		var b strings.Builder
		for _, ip := range r.Released {
			fmt.Fprintf(&b, "released %s\n", ip)
		}
		return b.String(), nil
	})
}
