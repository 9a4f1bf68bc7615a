// Package anycast keeps a host's anycast service addresses (a DNS resolver's
// /32, say) in BGP only while the service behind them answers its health
// check, and takes them out gracefully when an operator drains the host.
//
// The Engine is pure, in the style of the other protocol engines: the daemon
// feeds it check results, operator commands, config changes and the current
// time, and carries out the actions it returns (run a check with a deadline,
// announce or withdraw a prefix with attribute hints, log a state change). It
// tracks each check's deadline itself, so a check that hangs is a failed
// check at its timeout and never stalls the loop.
//
// The thin side is checks.go: the exec, tcp, http and dns probes, and Runner,
// a bounded pool that runs them concurrently and hands results back on a
// channel.
package anycast
