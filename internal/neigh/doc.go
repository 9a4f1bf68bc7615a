// Package neigh turns the kernel's ARP/ND table on server-facing interfaces
// into /32 and /128 host routes for BGP, the way an L3-only leaf makes every
// server reachable by its own address (routed link to every server, VM
// mobility without stretched VLANs).
//
// The Engine is pure: the daemon feeds it neighbor events, BGP-side events
// and the current time, and carries out the actions it returns (originate or
// withdraw a host route, probe a host, tune kernel timers, log). It owns the
// policy that keeps a server from announcing what it does not own (allowed
// prefixes, per-port limits, static bindings, no stealing of a live address)
// and the mobility rules (sequence numbers in the spirit of RFC 7432 7.7,
// flap freeze). The Linux side (neigh_linux.go) subscribes to RTM_NEWNEIGH /
// RTM_DELNEIGH and sends probes by moving kernel entries to NUD_PROBE.
package neigh
