package api

import (
	"context"
	"net"
	"net/http"
	"slices"
)

// Cred is who is at the other end of an API connection.
type Cred struct {
	PID      int32
	UID, GID uint32
	// Groups are the supplementary groups; nil when unknown.
	Groups []uint32
}

type credKey struct{}

// Allowed reports whether c may use an API whose socket belongs to group
// sockGID, served by a process running as selfUID: root, the daemon's own
// user, and members of the socket's group. The socket's mode 0660 says the
// same to the kernel; this check holds even when the file's mode or owner
// is changed, and for connections passed around by file descriptor.
func Allowed(c Cred, selfUID, sockGID uint32) bool {
	return c.UID == 0 || c.UID == selfUID || c.GID == sockGID || slices.Contains(c.Groups, sockGID)
}

// guard refuses connections whose peer is not Allowed, with 403.
func guard(next http.Handler, selfUID, sockGID uint32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(credKey{}).(Cred)
		if !ok || !Allowed(c, selfUID, sockGID) {
			writeError(w, http.StatusForbidden, "this user may not use closd's API: it is for root, closd's user and the socket's group")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// connContext records the peer's credentials for guard.
func connContext(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := peerCred(nc); ok {
		return context.WithValue(ctx, credKey{}, c)
	}
	return ctx
}
