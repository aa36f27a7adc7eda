package session

import "net/http"

// The attributes cookie-session (through the cookies package) writes with
// the cluster's settings, signed: false and secure: false: path "/" and
// HttpOnly, no expiry (a browser-session cookie), no SameSite.
const (
	cookieAttrs = "; path=/; httponly"
	// clearedCookie is what cookie-session sets when a handler sets
	// req.session = null: an empty value that expired at the epoch. The
	// Node auth service's signout test asserts exactly this line.
	clearedCookie = CookieName + "=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly"
)

// SetCookie adds the Set-Cookie header with which the Node auth service
// signs a browser in: cookie-session's, for a session of {"jwt": token}
// (CookieHeader), with path=/ and httponly. It is written by hand, as the
// cookie is read by hand: http.SetCookie refuses the name "express:sess".
func SetCookie(w http.ResponseWriter, token string) {
	w.Header().Add("Set-Cookie", CookieHeader(token)+cookieAttrs)
}

// ClearCookie adds the Set-Cookie header with which the Node auth
// service signs a browser out (req.session = null in cookie-session):
// the session cookie emptied and expired, byte for byte as Node writes it.
func ClearCookie(w http.ResponseWriter) {
	w.Header().Add("Set-Cookie", clearedCookie)
}
