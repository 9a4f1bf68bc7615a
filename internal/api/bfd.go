package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/closnet/clos/internal/daemon"
)

// BFD (issue 10): GET /v1/bfd for `clos show bfd`, every session with its
// negotiated timers, state history and counters, and the daemon's totals
// that metrics export.

// BFDPath is the BFD endpoint; ?peer=ADDR keeps the sessions to one peer,
// ?peer=IFNAME those on one interface.
const BFDPath = "/v1/bfd"

// BFDBackend is what the BFD endpoint needs; *daemon.Daemon implements it.
var _ BFDBackend = (*daemon.Daemon)(nil)

// BFDBackend is the daemon side of GET /v1/bfd.
type BFDBackend interface {
	BFDSessions(ctx context.Context) (daemon.BFDReport, error)
}

func init() {
	RegisterEndpoint(Endpoint{
		Path:    BFDPath,
		Summary: "BFD sessions: state, negotiated intervals, detection time, last down reason, counters (?peer=ADDR or IFNAME)",
		Get: func(ctx context.Context, b Backend, r *http.Request) (any, error) {
			bb, ok := b.(BFDBackend)
			if !ok {
				return nil, Errorf(http.StatusNotImplemented, "this closd has no BFD support")
			}
			q := r.URL.Query().Get("peer")
			match, what, err := bfdFilter(q)
			if err != nil {
				return nil, err
			}
			rep, err := bb.BFDSessions(ctx)
			if err != nil {
				return nil, err
			}
			if q != "" {
				keep := []daemon.BFDSession{}
				for _, s := range rep.Sessions {
					if match(s) {
						keep = append(keep, s)
					}
				}
				if len(keep) == 0 {
					return nil, Errorf(http.StatusNotFound, "no BFD session %s; sessions: %s", what, bfdPeers(rep))
				}
				rep.Sessions = keep
			}
			return rep, nil
		},
	})
}

// bfdIfname is a Linux interface name, as the config accepts it.
var bfdIfname = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$`)

// bfdFilter reads ?peer=: an address, or an interface name, which names
// the sessions on that link (an unnumbered neighbor's peer is a link-local
// address nobody types).
func bfdFilter(q string) (match func(daemon.BFDSession) bool, what string, err error) {
	if a, perr := netip.ParseAddr(q); perr == nil {
		a = a.WithZone("")
		return func(s daemon.BFDSession) bool { return s.Peer == a }, "to " + a.String(), nil
	}
	if q != "" && !bfdIfname.MatchString(q) {
		return nil, "", Errorf(http.StatusBadRequest, "peer %s: want an IP address like 10.0.0.1 or fe80::1, or an interface like swp1", quote(q))
	}
	return func(s daemon.BFDSession) bool { return s.Interface == q }, "on interface " + q, nil
}

func bfdPeers(r daemon.BFDReport) string {
	var ps []string
	for _, s := range r.Sessions {
		p := s.Peer.String()
		if s.Interface != "" {
			p += "%" + s.Interface
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return "(none)"
	}
	return strings.Join(ps, ", ")
}

// BFDQuery is the GET path for the sessions to one peer, or all when peer
// is empty.
func BFDQuery(peer string) string {
	if peer == "" {
		return BFDPath
	}
	return BFDPath + "?peer=" + urlQueryEscape(peer)
}

func msString(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + "ms"
}

// RenderBFD writes one line per session, then each session's details:
// what both ends advertise, history and packet counters.
func RenderBFD(w io.Writer, r daemon.BFDReport) error {
	var b strings.Builder
	if len(r.Sessions) == 0 {
		b.WriteString("No BFD sessions (no neighbor has bfd on and bfd.peers is empty)\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "BFD sessions: %d, %d up; %d transitions to Up, %d from Up; %d packets matched no session\n\n",
		r.Stats.Sessions, r.Stats.Up, r.Stats.UpTransitions, r.Stats.DownTransitions, r.Stats.Unmatched)
	t := table{align: "llllrrrrl"}
	t.add("Peer", "Via", "Owner", "State", "Tx", "Detect", "Ups", "Downs", "Last down")
	for _, s := range r.Sessions {
		via := "single hop"
		switch {
		case s.Multihop:
			via = "multihop from " + s.Local.String()
		case s.Interface != "":
			via = s.Interface
		}
		owner := "standalone"
		if s.Neighbor.IsValid() {
			owner = "bgp"
		}
		last := "-"
		if s.LastDownDiag != "" {
			last = s.LastDownDiag
			if !s.LastDownAt.IsZero() {
				last += " at " + s.LastDownAt.UTC().Format(time.RFC3339)
			}
		}
		t.add(s.Peer.String(), via, owner, s.State, msString(s.TxIntervalMS), msString(s.DetectionTimeMS),
			strconv.FormatUint(s.Ups, 10), strconv.FormatUint(s.Downs, 10), last)
	}
	t.write(&b)
	for _, s := range r.Sessions {
		fmt.Fprintf(&b, "\n%s", s.Peer)
		if s.Description != "" {
			fmt.Fprintf(&b, " (%s)", s.Description)
		}
		fmt.Fprintf(&b, ": %s, remote %s", s.State, s.RemoteState)
		if s.Auth != "" {
			fmt.Fprintf(&b, ", auth %s", s.Auth)
		}
		if s.HoldingBGP {
			b.WriteString(", holding BGP")
		}
		if s.GatewayDown {
			b.WriteString(", next hop out of the FIB")
		}
		b.WriteString("\n")
		d := table{align: "lrrrl", indent: "  "}
		d.add("", "Mult", "Min TX", "Min RX", "Diag")
		d.add("local", strconv.Itoa(int(s.DetectMult)), msString(s.DesiredMinTxMS), msString(s.RequiredMinRxMS), s.LocalDiag)
		d.add("remote", strconv.Itoa(int(s.RemoteDetectMult)), msString(s.RemoteDesiredTxMS), msString(s.RemoteRequiredRxMS), s.RemoteDiag)
		d.write(&b)
		fmt.Fprintf(&b, "  discriminators %d/%d; packets rx %d tx %d, discarded %d, tx errors %d\n",
			s.LocalDiscr, s.RemoteDiscr, s.Rx, s.Tx, s.RxDiscarded, s.TxErrors)
		if s.LastDiscard != "" {
			fmt.Fprintf(&b, "  last discard: %s\n", oneLine(s.LastDiscard))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
