// Package password hashes and checks passwords in the format of the
// cluster's Node auth service (auth/src/services/password.ts), so that
// users the Node service signed up sign in on a Go one and the other way
// round: hex(scrypt(password, salt, N=16384, r=8, p=1, 64 bytes)) + "." +
// salt, where salt is 8 random bytes in hex and is used as scrypt's salt
// as that hex text, as Node's crypto.scrypt is given it. N, r and p are
// crypto.scrypt's defaults, which password.ts doesn't override.
//
// It is a package of its own rather than part of session: only a service
// that keeps users (auth) hashes passwords, while every service reads
// sessions. The scrypt itself is golang.org/x/crypto/scrypt.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// The parameters of Node's crypto.scrypt(password, salt, 64) with no
// options, which is what the Node auth service calls.
const (
	n       = 16384
	r       = 8
	p       = 1
	keyLen  = 64
	saltLen = 8 // bytes; 16 hex characters in the stored form
)

// ErrMalformed means a stored hash is not in the Node format: no ".", a
// hash part that is not 128 hex characters, or an empty salt.
var ErrMalformed = errors.New("password: stored hash is not hex(scrypt).salt")

// Hash returns password's hash in the Node format, with a new random
// salt. It costs one scrypt: about 16 MiB of memory and tens of
// milliseconds of CPU, by design.
func Hash(password string) (string, error) {
	var b [saltLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	salt := hex.EncodeToString(b[:])
	key, err := derive(password, salt)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(key) + "." + salt, nil
}

// Verify reports whether password is the one stored was made from. The
// hashes are compared in constant time. A stored hash that is not in the
// Node format is ErrMalformed, never a match. Node's Password.compare
// compares the hex of the hashes, so a stored hash in upper-case hex
// (which Node never writes) would fail there; here it matches, which
// changes no answer for a hash Node wrote.
func Verify(stored, password string) (bool, error) {
	hashHex, salt, ok := strings.Cut(stored, ".")
	if !ok || salt == "" || strings.Contains(salt, ".") || len(hashHex) != 2*keyLen {
		return false, ErrMalformed
	}
	want, err := hex.DecodeString(hashHex)
	if err != nil {
		return false, ErrMalformed
	}
	got, err := derive(password, salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// derive is scrypt over the password's and the salt's UTF-8 bytes, as
// Node hashes strings.
func derive(password, salt string) ([]byte, error) {
	key, err := scrypt.Key([]byte(password), []byte(salt), n, r, p, keyLen)
	if err != nil {
		return nil, fmt.Errorf("password: scrypt: %w", err)
	}
	return key, nil
}
