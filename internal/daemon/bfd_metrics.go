package daemon

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descBFDSessions = prometheus.NewDesc("closd_bfd_sessions", "BFD sessions (neighbors' and standalone).", nil, nil)
	descBFDUp       = prometheus.NewDesc("closd_bfd_sessions_up", "BFD sessions Up now.", nil, nil)
	descBFDChanges  = prometheus.NewDesc("closd_bfd_state_changes_total", "BFD state changes over every session since start: to Up (direction up) and from Up (direction down).", []string{"direction"}, nil)
	descBFDUnmatch  = prometheus.NewDesc("closd_bfd_unmatched_packets_total", "Received BFD packets that matched no session or did not parse.", nil, nil)
	descBFDState    = prometheus.NewDesc("closd_bfd_session_up", "1 if the BFD session to the peer is Up.", []string{"peer", "owner"}, nil)
	descBFDDowns    = prometheus.NewDesc("closd_bfd_session_downs_total", "Times the BFD session to the peer went from Up to another state.", []string{"peer"}, nil)
	descBFDPackets  = prometheus.NewDesc("closd_bfd_packets_total", "BFD packets of the session: received, sent, discarded on receipt, failed to send.", []string{"peer", "kind"}, nil)
	descBFDDetect   = prometheus.NewDesc("closd_bfd_detection_time_seconds", "Negotiated detection time of the session (0 until the peer is heard).", []string{"peer"}, nil)
)

func init() {
	RegisterMetricSource("bfd", func(ctx context.Context, d *Daemon, ch chan<- prometheus.Metric) error {
		r, err := d.BFDSessions(ctx)
		if err != nil {
			return err
		}
		gauge := func(desc *prometheus.Desc, v float64, l ...string) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, l...)
		}
		counter := func(desc *prometheus.Desc, v float64, l ...string) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, l...)
		}
		gauge(descBFDSessions, float64(r.Stats.Sessions))
		gauge(descBFDUp, float64(r.Stats.Up))
		counter(descBFDChanges, float64(r.Stats.UpTransitions), "up")
		counter(descBFDChanges, float64(r.Stats.DownTransitions), "down")
		counter(descBFDUnmatch, float64(r.Stats.Unmatched))
		seen := map[string]bool{}
		for _, s := range r.Sessions {
			peer := s.Peer.String()
			switch {
			case s.Multihop:
				peer += " from " + s.Local.String()
			case s.Interface != "":
				peer += "%" + s.Interface
			}
			if seen[peer] {
				continue // one series per label set
			}
			seen[peer] = true
			owner := "standalone"
			if s.Neighbor.IsValid() {
				owner = "bgp"
			}
			up := 0.0
			if s.State == "Up" {
				up = 1
			}
			gauge(descBFDState, up, peer, owner)
			counter(descBFDDowns, float64(s.Downs), peer)
			gauge(descBFDDetect, s.DetectionTimeMS/1000, peer)
			for kind, v := range map[string]uint64{"rx": s.Rx, "tx": s.Tx, "rx_discarded": s.RxDiscarded, "tx_errors": s.TxErrors} {
				counter(descBFDPackets, float64(v), peer, kind)
			}
		}
		return nil
	})
}
