package daemon

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descGRRestarting = prometheus.NewDesc("closd_graceful_restart_restarting", "1 during the restart phase after a start that adopted kernel routes (End-of-RIB and the sweep held).", nil, nil)
	descGRAdopted    = prometheus.NewDesc("closd_graceful_restart_adopted_routes", "Kernel routes of a previous run found at start.", nil, nil)
	descGRPhase      = prometheus.NewDesc("closd_graceful_restart_phase_seconds", "How long the restart phase lasted (0 until it is over, or without one).", nil, nil)
	descGRHelping    = prometheus.NewDesc("closd_graceful_restart_helping", "Neighbors whose routes are kept while they restart or until their End-of-RIB.", nil, nil)
	descGRKeptDyn    = prometheus.NewDesc("closd_graceful_restart_kept_dynamic", "Dynamic neighbors gone while restarting whose routes are kept (included in helping).", nil, nil)
)

func init() {
	RegisterMetricSource("graceful-restart", func(ctx context.Context, d *Daemon, ch chan<- prometheus.Metric) error {
		st, err := d.GracefulRestart(ctx)
		if err != nil {
			return err
		}
		r := 0.0
		if st.Restarting {
			r = 1
		}
		ch <- prometheus.MustNewConstMetric(descGRRestarting, prometheus.GaugeValue, r)
		ch <- prometheus.MustNewConstMetric(descGRAdopted, prometheus.GaugeValue, float64(st.Adopted))
		ch <- prometheus.MustNewConstMetric(descGRPhase, prometheus.GaugeValue, st.PhaseTook.Seconds())
		ch <- prometheus.MustNewConstMetric(descGRHelping, prometheus.GaugeValue, float64(st.Helping))
		ch <- prometheus.MustNewConstMetric(descGRKeptDyn, prometheus.GaugeValue, float64(st.KeptDynamic))
		return nil
	})
}
