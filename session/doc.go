// Package session reads the signed-in user of a request as the cluster's
// auth service issues it, so every Go service of the cluster checks
// sign-in the way the Node services do with their shared library's
// currentUser middleware, and no service writes that check again.
//
// # What the auth service issues
//
// At sign-up and sign-in the Node auth service signs a JWT with HS256 over
// {id, email, iat} (jsonwebtoken, no exp) with the cluster's JWT_KEY, and
// puts it in a cookie-session cookie, CookieName ("express:sess"), with
// signed: false: the cookie's value is base64 of the JSON session object
// {"jwt":"<token>"}. Browsers send that cookie back; scripts and other
// clients send the token as "Authorization: Bearer <token>". A Verifier
// reads both.
//
// # What a Verifier accepts
//
// Only what the auth service could have issued; everything else is an
// error, which a service treats as signed out:
//
//   - HS256 only. "none", RS256 with the HMAC key posing as a public key,
//     and even HS384 or HS512 are refused: accepting more algorithms than
//     the issuer uses is how JWT checks get bypassed.
//   - A token without exp is accepted, because the auth service sets none;
//     an exp that is present is enforced, and so is nbf.
//   - The token must carry a non-empty string id of at most 128 bytes (the
//     cluster's ids are 24-hex ObjectIds; the bound stops a validly signed
//     but absurd id from being stored in every record and event).
//   - An Authorization header, when present, is the only credential read:
//     a bad Bearer token is never papered over by a good cookie.
//   - The cookie is parsed from the Cookie header by hand, since net/http
//     drops cookies whose name is not an HTTP token (':' is not one), and
//     its base64 is decoded the way Node's is: standard or URL alphabet,
//     padded or not.
//
// Errors say which case it was: ErrNoSession when the request carries no
// credentials (none at all, or a session cookie holding no token, as after
// a sign-out), ErrInvalid (wrapping the cause, for logs) when it carries
// some that don't hold.
//
// # Using it
//
// Verifier.Middleware is Node's currentUser: it puts the user, if any, in
// the request's context, where FromContext finds it, and never fails a
// request. Verifier.User is the same check called directly, for a handler
// that wants to know why credentials were refused.
//
// Node's requireAuth is httpapi.RequireUser, which answers the cluster's
// 401 body; this package knows nothing of HTTP answers, so that a service
// with another error model can refuse in its own words.
//
// # Issuing sessions
//
// Mint signs a token as the auth service does (with an optional expiry),
// SetCookie sets the session cookie holding it, and ClearCookie clears it
// as the Node service's signout does, byte for byte. The Go auth service
// (examples/auth-service) uses them; so do development tools and tests,
// with CookieHeader for the Cookie header a browser would send.
// Verifier.Claims returns a token's issue and expiry times beside the
// user, for the current-user route, which answers them.
//
// The package imports no other ticketkit package but the root (ids).
package session
