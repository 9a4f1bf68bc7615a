package daemon

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descHosts        = prometheus.NewDesc("closd_hosts", "Hosts learned from ARP/ND and held, by server port.", []string{"interface"}, nil)
	descHostsFrozen  = prometheus.NewDesc("closd_hosts_frozen", "Addresses frozen by flap detection (held here or not).", nil, nil)
	descHostsRemote  = prometheus.NewDesc("closd_hosts_remote_routes", "Host prefixes another leaf advertises, as the engine knows them.", nil, nil)
	descHostsWatch   = prometheus.NewDesc("closd_hosts_watching", "1 while the kernel neighbor watcher runs.", nil, nil)
	descHostsCounter = prometheus.NewDesc("closd_hosts_events_total", "Host-route events: learned, withdrawn, moves, freezes, conflicts, rejected, probes, kernel_errors, route_errors, watcher_failures.", []string{"event"}, nil)
)

func init() {
	RegisterMetricSource("hosts", func(ctx context.Context, d *Daemon, ch chan<- prometheus.Metric) error {
		if d.hosts == nil {
			return nil
		}
		st, err := d.Hosts(ctx)
		if err != nil {
			return err
		}
		per := map[string]int{}
		for _, name := range st.Interfaces {
			per[name] = 0
		}
		for _, h := range st.Hosts {
			per[h.Interface]++
		}
		for name, n := range per {
			ch <- prometheus.MustNewConstMetric(descHosts, prometheus.GaugeValue, float64(n), name)
		}
		ch <- prometheus.MustNewConstMetric(descHostsFrozen, prometheus.GaugeValue, float64(len(st.Frozen)))
		ch <- prometheus.MustNewConstMetric(descHostsRemote, prometheus.GaugeValue, float64(st.Engine.RemoteRoutes))
		w := 0.0
		if st.Watching {
			w = 1
		}
		ch <- prometheus.MustNewConstMetric(descHostsWatch, prometheus.GaugeValue, w)
		e, c := st.Engine, st.Counters
		for name, v := range map[string]uint64{
			"learned": e.Learned, "withdrawn": e.Withdrawn, "moves": e.Moves, "freezes": e.Freezes, "conflicts": e.Conflicts,
			"rejected": e.Rejected, "probes": e.Probes, "kernel_errors": c.KernelErrors, "route_errors": c.RouteErrors,
			"watcher_failures": c.WatcherFailures,
		} {
			ch <- prometheus.MustNewConstMetric(descHostsCounter, prometheus.CounterValue, float64(v), name)
		}
		return nil
	})
}
