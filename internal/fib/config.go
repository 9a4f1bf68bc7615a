package fib

// DefaultProtocol is the rtm_protocol (and nh_protocol) our routes and
// nexthops carry. 201 is free in iproute2's rt_protos (which stops at 192
// "eigrp"); `ip route show proto 201` lists ours.
const DefaultProtocol = 201

// LinuxConfig configures the rtnetlink backend.
type LinuxConfig struct {
	// Protocol tags our routes and nexthops (default DefaultProtocol).
	Protocol uint8
	// Table is the routing table (default 254, main).
	Table uint32
	// Metric is our routes' priority (default 20): a route with another
	// metric for the same prefix is someone else's and stays.
	Metric uint32
	// IDs is our nexthop ID range (default DefaultIDRange).
	IDs IDRange
	// Netns, if set, is the path of a network namespace (e.g.
	// /run/netns/NAME) whose kernel the backend talks to; the sockets are
	// opened inside it and stay bound to it.
	Netns string
	// AckEach sets NLM_F_ACK on every request, so the kernel answers each
	// one. Off (the default), only the last request of a batch asks for an
	// ack and the kernel answers the others only on failure: Linux handles
	// the requests of one send in order within the send, so once the last
	// ack is read every failure before it has been read too. Both ways
	// report a result per op; off saves a socket buffer and a receive call
	// per route (see docs/fib.md for the measured difference).
	AckEach bool
	// BatchMessages bounds the requests sent before their acks are read
	// (default 2048).
	BatchMessages int
}
