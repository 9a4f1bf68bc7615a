package bfd

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"errors"
	"fmt"
)

// AuthConfig configures authentication of a session (RFC 5880 6.7). The
// same key set verifies received packets; KeyID picks the key we send with.
type AuthConfig struct {
	Type AuthType
	// Keys maps key ID to secret. Simple passwords are 1-16 bytes, MD5 keys
	// 1-16 bytes, SHA1 keys 1-20 bytes (shorter keys are zero-padded, as the
	// RFC prescribes).
	Keys  map[uint8][]byte
	KeyID uint8
}

// Validate reports a configuration that could never authenticate.
func (c *AuthConfig) Validate() error {
	if c == nil {
		return nil
	}
	max := 0
	switch c.Type {
	case AuthSimplePassword, AuthKeyedMD5, AuthMeticulousKeyedMD5:
		max = 16
	case AuthKeyedSHA1, AuthMeticulousSHA1:
		max = 20
	default:
		return fmt.Errorf("bfd: auth type %d: want simple-password, keyed-md5, meticulous-keyed-md5, keyed-sha1 or meticulous-keyed-sha1", c.Type)
	}
	if _, ok := c.Keys[c.KeyID]; !ok {
		return fmt.Errorf("bfd: auth key id %d has no key", c.KeyID)
	}
	for id, k := range c.Keys {
		if len(k) < 1 || len(k) > max {
			return fmt.Errorf("bfd: auth key id %d is %d bytes, want 1-%d for %v", id, len(k), max, c.Type)
		}
	}
	return nil
}

// Authentication failures. The packet is discarded and the session state is
// untouched.
var (
	ErrAuthMissing    = errors.New("bfd: authentication configured but A bit clear")
	ErrAuthUnexpected = errors.New("bfd: A bit set but no authentication configured")
	ErrAuthType       = errors.New("bfd: auth type differs from the configured one")
	ErrAuthKeyID      = errors.New("bfd: unknown auth key id")
	ErrAuthPassword   = errors.New("bfd: wrong password")
	ErrAuthSeq        = errors.New("bfd: auth sequence number outside the window")
	ErrAuthDigest     = errors.New("bfd: digest mismatch")
)

// authRx is the receive-side sequence state (bfd.RcvAuthSeq, bfd.AuthSeqKnown).
type authRx struct {
	known bool
	seq   uint32
}

// verify authenticates a parsed packet against its raw bytes (RFC 5880
// 6.7.2-6.7.4) and, on success, advances the receive sequence state.
func (c *AuthConfig) verify(raw []byte, p *ControlPacket, st *authRx) error {
	if c == nil {
		if p.AuthBit {
			return ErrAuthUnexpected
		}
		return nil
	}
	if !p.AuthBit || p.Auth == nil {
		return ErrAuthMissing
	}
	a := p.Auth
	if a.Type != c.Type {
		return ErrAuthType
	}
	key, ok := c.Keys[a.KeyID]
	if !ok {
		return ErrAuthKeyID
	}
	if a.Type == AuthSimplePassword {
		if subtle.ConstantTimeCompare(a.Password, key) != 1 {
			return ErrAuthPassword
		}
		return nil
	}
	if st.known {
		// Sequence numbers live in a circular 32-bit space; the window is
		// 3 x Detect Mult of the received packet, starting at the last seen
		// number (keyed) or just after it (meticulous).
		lo := uint32(0)
		if a.Type.meticulous() {
			lo = 1
		}
		d := a.Seq - st.seq
		if d < lo || d > 3*uint32(p.DetectMult) {
			return ErrAuthSeq
		}
	}
	n := p.Len()
	if len(raw) < n {
		return ErrShort
	}
	var buf [MaxPacketLen]byte
	copy(buf[:], raw[:n])
	dl := a.Type.digestLen()
	var want [20]byte
	copy(want[:], raw[n-dl:n])
	fillKey(buf[n-dl:n], key)
	var got []byte
	if dl == 16 {
		s := md5.Sum(buf[:n])
		got = s[:]
	} else {
		s := sha1.Sum(buf[:n])
		got = s[:]
	}
	if subtle.ConstantTimeCompare(got, want[:dl]) != 1 {
		return ErrAuthDigest
	}
	st.known = true
	st.seq = a.Seq
	return nil
}

// fillKey writes key zero-padded into the digest field.
func fillKey(dst, key []byte) {
	n := copy(dst, key)
	clear(dst[n:])
}

// sign fills the digest of an encoded packet whose auth section carries the
// key ID and sequence number already (RFC 5880 6.7.3, 6.7.4 transmission).
func (c *AuthConfig) sign(b []byte) {
	if c == nil || c.Type == AuthSimplePassword {
		return
	}
	dl := c.Type.digestLen()
	n := len(b)
	fillKey(b[n-dl:], c.Keys[c.KeyID])
	if dl == 16 {
		s := md5.Sum(b)
		copy(b[n-dl:], s[:])
	} else {
		s := sha1.Sum(b)
		copy(b[n-dl:], s[:])
	}
}
