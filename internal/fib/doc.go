// Package fib makes the kernel's forwarding table match the routes closd
// wants, as an idempotent reconciler.
//
// The desired state is a map from prefix to a next-hop set (ECMP members with
// weights, or a blackhole). Equal member sets share one kernel nexthop group,
// so an ECMP change is one write whatever the number of prefixes behind it.
// [Plan] compares the desired state with a snapshot of the kernel ([Kernel])
// and returns the ordered writes ([Op]) that close the gap; running it again
// on the result writes nothing. A [Backend] reads and writes the kernel: the
// Linux backend speaks rtnetlink, [Fake] models the kernel's semantics for
// tests. [FIB] is the thin loop that ties them together: it reacts to kernel
// events (link down, routes deleted by hand), retries failed writes and
// reports which prefixes failed and why.
//
// See docs/fib.md for the protocol number, the nexthop ID range we own and the
// host sysctls the data plane needs.
package fib
