package session

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ticketkit/ticketkit"
)

// Mint signs a token for u as the auth service does: HS256 over {id,
// email, iat} with key, iat being now. It adds an exp of now+ttl only when
// ttl > 0, since the Node auth service's tokens have none. The Go auth
// service (examples/auth-service) signs with it, and so do development
// tools and tests. Mint refuses what a Verifier would refuse (an empty key, an
// empty id, or one that is not 24-hex) and a negative ttl, rather than sign a token that
// can't be used.
func Mint(key []byte, u User, now time.Time, ttl time.Duration) (string, error) {
	switch {
	case len(key) == 0:
		return "", errEmptyKey
	case u.ID == "":
		return "", errors.New("session: the user has no id")
	case !ticketkit.ValidID(u.ID):
		return "", fmt.Errorf("session: the user's id %q is not a 24-hex id", u.ID)
	case ttl < 0:
		return "", fmt.Errorf("session: negative ttl %v", ttl)
	}
	c := claims{UserID: u.ID, Email: u.Email}
	c.IssuedAt = jwt.NewNumericDate(now)
	if ttl > 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
}

// CookieHeader returns the name=value pair cookie-session would set for
// token: what a browser sends in its Cookie header (alone, or joined to
// other cookies with "; "), and the start of the auth service's
// Set-Cookie. The value is standard padded base64 of {"jwt":"<token>"}.
func CookieHeader(token string) string {
	s, _ := json.Marshal(map[string]string{"jwt": token}) // a map of strings always marshals
	return CookieName + "=" + base64.StdEncoding.EncodeToString(s)
}
