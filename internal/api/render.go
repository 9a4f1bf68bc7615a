package api

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/closnet/clos/internal/bgp/fsm"
	"github.com/closnet/clos/internal/daemon"
)

// RenderSummary writes s as vtysh's `show bgp summary` does.
func RenderSummary(w io.Writer, s Summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "BGP router identifier %s, local AS number %d\n", s.RouterID, s.LocalAS)
	up := 0
	for _, n := range s.Neighbors {
		if n.State == "Established" {
			up++
		}
	}
	fmt.Fprintf(&b, "Neighbors: %d configured, %d established\n\n", len(s.Neighbors), up)
	t := table{align: "lrrrrrrrl"}
	t.add("Neighbor", "V", "AS", "MsgRcvd", "MsgSent", "Up/Down", "State/PfxRcd", "PfxSnt", "Desc")
	for _, n := range s.Neighbors {
		as := "-"
		if n.RemoteAS != 0 {
			as = strconv.FormatUint(uint64(n.RemoteAS), 10)
		}
		state := n.State
		if n.AdminDown {
			state = "Idle (Admin)"
		}
		pfxSnt := "-"
		if n.State == "Established" {
			// As FRR: an established session shows what it accepted.
			state = strconv.Itoa(n.PrefixesAccepted)
			pfxSnt = strconv.Itoa(n.PrefixesAdvertised)
		}
		desc := n.Description
		if desc == "" {
			desc = "N/A"
		}
		t.add(n.Address.String(), "4", as,
			strconv.FormatUint(n.MessagesReceived, 10), strconv.FormatUint(n.MessagesSent, 10),
			upDown(n.State, time.Duration(n.UptimeSeconds*float64(time.Second))), state, pfxSnt, desc)
	}
	t.write(&b)
	fmt.Fprintf(&b, "\nTotal number of neighbors %d\n", len(s.Neighbors))
	_, err := io.WriteString(w, b.String())
	return err
}

// upDown formats a session's uptime as FRR does: hh:mm:ss under a day,
// then days and hours, then weeks.
func upDown(state string, d time.Duration) string {
	if state != "Established" || d <= 0 {
		return "never"
	}
	d = d.Truncate(time.Second)
	const day, week = 24 * time.Hour, 7 * 24 * time.Hour
	switch {
	case d < day:
		return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	case d < week:
		return fmt.Sprintf("%dd%02dh%02dm", int(d/day), int(d%day/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%02dw%dd%02dh", int(d/week), int(d%week/day), int(d%day/time.Hour))
}

// RenderNeighbors writes ns as vtysh's `show bgp neighbors` does.
func RenderNeighbors(w io.Writer, ns []daemon.NeighborStatus) error {
	var b strings.Builder
	for i, n := range ns {
		if i > 0 {
			b.WriteString("\n")
		}
		renderNeighbor(&b, n)
	}
	if len(ns) == 0 {
		b.WriteString("No BGP neighbors configured\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func renderNeighbor(b *strings.Builder, n daemon.NeighborStatus) {
	fmt.Fprintf(b, "BGP neighbor is %s", n.Address)
	if n.PeerAS != 0 {
		fmt.Fprintf(b, ", remote AS %d", n.PeerAS)
	}
	if n.Description != "" {
		fmt.Fprintf(b, ", description %q", n.Description)
	}
	b.WriteString("\n")
	state := n.State
	if n.AdminDown {
		state += " (administratively shut down)"
	}
	if n.State == "Established" {
		fmt.Fprintf(b, "  BGP state = %s, up for %s\n", state, upDown(n.State, n.Uptime))
	} else {
		fmt.Fprintf(b, "  BGP state = %s\n", state)
	}
	if n.AdminDown && n.ShutdownMessage != "" {
		fmt.Fprintf(b, "  Shutdown message: %q\n", n.ShutdownMessage)
	}
	if n.PeerID != "" {
		fmt.Fprintf(b, "  Remote router ID %s\n", n.PeerID)
	}
	if n.Local != "" || n.Remote != "" {
		fmt.Fprintf(b, "  Local host: %s, Remote host: %s\n", orDash(n.Local), orDash(n.Remote))
	}
	s := n.Session
	if s.HoldTimeSeconds > 0 {
		fmt.Fprintf(b, "  Hold time is %s seconds, keepalive interval is %s seconds\n", secs(s.HoldTimeSeconds), secs(s.KeepaliveSeconds))
	}
	if n.State == "Established" {
		b.WriteString("  Neighbor capabilities:\n")
		fmt.Fprintf(b, "    4 Byte AS: %s\n", yesNo(n.AS4))
		fmt.Fprintf(b, "    Route refresh: %s\n", yesNo(n.RouteRefresh))
		fmt.Fprintf(b, "    Address families: %s\n", orDash(strings.Join(n.Families, ", ")))
	}
	b.WriteString("  Message statistics:\n")
	t := table{align: "lrr", indent: "    "}
	t.add("", "Sent", "Rcvd")
	for _, r := range []struct {
		name    string
		out, in uint64
	}{
		{"Opens:", s.MessagesOut.Open, s.MessagesIn.Open},
		{"Notifications:", s.MessagesOut.Notification, s.MessagesIn.Notification},
		{"Updates:", s.MessagesOut.Update, s.MessagesIn.Update},
		{"Keepalives:", s.MessagesOut.Keepalive, s.MessagesIn.Keepalive},
		{"Route Refresh:", s.MessagesOut.RouteRefresh, s.MessagesIn.RouteRefresh},
		{"Malformed:", s.MessagesOut.Malformed, s.MessagesIn.Malformed},
		{"Total:", s.MessagesOut.Total(), s.MessagesIn.Total()},
	} {
		t.add(r.name, strconv.FormatUint(r.out, 10), strconv.FormatUint(r.in, 10))
	}
	t.write(b)
	fmt.Fprintf(b, "  Prefixes: received %d, accepted %d, best %d, advertised %d\n",
		n.PrefixesReceived, n.PrefixesAccepted, n.PrefixesBest, n.PrefixesAdvertised)
	fmt.Fprintf(b, "  Connections established %d; dropped %d\n", s.Established, n.Resets)
	if s.UpdateErrors > 0 || s.Ignored > 0 {
		fmt.Fprintf(b, "  UPDATE errors handled without reset %d, messages ignored %d\n", s.UpdateErrors, s.Ignored)
		if s.LastUpdateError != "" {
			fmt.Fprintf(b, "  Last UPDATE error: %s\n", s.LastUpdateError)
		}
	}
	if s.LastSent != nil {
		fmt.Fprintf(b, "  Last notification sent: %s\n", notification(s.LastSent))
	}
	if s.LastReceived != nil {
		fmt.Fprintf(b, "  Last notification received: %s\n", notification(s.LastReceived))
	}
	if s.LastDown != "" {
		fmt.Fprintf(b, "  Last reset: %s", s.LastDown)
		if !s.LastDownAt.IsZero() {
			fmt.Fprintf(b, " at %s", s.LastDownAt.UTC().Format(time.RFC3339))
		}
		b.WriteString("\n")
	}
}

func notification(n *fsm.NotificationInfo) string {
	s := fmt.Sprintf("%s (%d/%d)", n.Name, n.Code, n.Subcode)
	if n.Message != "" {
		s += fmt.Sprintf(" %q", n.Message)
	}
	if len(n.Data) > 0 {
		s += fmt.Sprintf(" data %x", n.Data)
	}
	if !n.At.IsZero() {
		s += " at " + n.At.UTC().Format(time.RFC3339)
	}
	return s
}

// RenderRoutes writes the best paths as vtysh's `show bgp` table does.
func RenderRoutes(w io.Writer, rs []daemon.Route) error {
	var b strings.Builder
	b.WriteString("Status codes: *> best, i local origination\n\n")
	t := table{align: "llllll"}
	t.add("", "Family", "Network", "Next Hop", "Peer", "Path")
	for _, r := range rs {
		code, nh, peer, path := "*>", r.NextHop.String(), r.Peer.String(), r.ASPath
		if r.Local {
			code, nh, peer = "*>i", "0.0.0.0", "local"
			if r.Prefix.Addr().Is6() {
				nh = "::"
			}
		}
		if !r.NextHop.IsValid() && !r.Local {
			nh = "-"
		}
		if !r.Peer.IsValid() && !r.Local {
			peer = "-"
		}
		if path == "" {
			path = "(empty)"
		}
		t.add(code, r.Family, r.Prefix.String(), nh, peer, path)
	}
	t.write(&b)
	fmt.Fprintf(&b, "\nDisplayed %d routes\n", len(rs))
	_, err := io.WriteString(w, b.String())
	return err
}

// table aligns columns: align has one 'l' or 'r' per column.
type table struct {
	align  string
	indent string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(b *strings.Builder) {
	var width []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t.rows {
		var line strings.Builder
		line.WriteString(t.indent)
		for i, c := range r {
			if i > 0 {
				line.WriteString(" ")
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i < len(t.align) && t.align[i] == 'r' {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(v bool) string {
	if v {
		return "advertised and received"
	}
	return "no"
}

func secs(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// RenderReload writes what a config reload did, one line per kind of
// change.
func RenderReload(r daemon.ReloadReport) string {
	var b strings.Builder
	b.WriteString("config reloaded\n")
	line := func(what string, ns []string) {
		if len(ns) > 0 {
			fmt.Fprintf(&b, "  %-10s %s\n", what, strings.Join(ns, ", "))
		}
	}
	line("added", r.Added)
	line("removed", r.Removed)
	line("refreshed", r.Refreshed)
	line("reset", r.Reset)
	fmt.Fprintf(&b, "  %-10s %d neighbors\n", "unchanged", len(r.Unchanged))
	var pfx []string
	for _, p := range r.NetworksAdded {
		pfx = append(pfx, "+"+p.String())
	}
	for _, p := range r.NetworksRemoved {
		pfx = append(pfx, "-"+p.String())
	}
	line("networks", pfx)
	pfx = nil
	for _, p := range r.AggregatesAdded {
		pfx = append(pfx, "+"+p.String())
	}
	for _, p := range r.AggregatesRemoved {
		pfx = append(pfx, "-"+p.String())
	}
	line("aggregates", pfx)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}
