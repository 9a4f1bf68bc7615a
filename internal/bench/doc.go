// Package bench is `clos bench`: it measures closd against other BGP
// daemons (FRR's bgpd, BIRD 2, GoBGP) on this machine, in one run, the
// way BGP implementers benchmark each other. Each daemon under test (the
// DUT) runs alone in a network namespace; a feeder and a sink, BGP
// speakers built in this package on the project's wire codec and FSM, peer
// with it over eBGP from a second namespace. The feeder announces N IPv4
// prefixes and later withdraws them; the sink times when the DUT has
// re-advertised (then withdrawn) every one of them and checks each route's
// AS path and next hop. The DUT's memory (PSS) and CPU time are read from
// /proc. See docs/bench.md for the method and the fairness choices.
//
// The pure parts (prefix generation, UPDATE packing, the sink's table,
// the statistics, the report) are separate from the Linux runner
// (run_linux.go), so they are tested without root.
package bench
