package natsclient

import "strings"

// ValidName reports whether name is non-empty and only letters, digits,
// '-' and '_': the alphabet of NATS Streaming client ids and of JetStream
// stream and consumer names (kept to what is also safe as a directory
// name everywhere).
func ValidName(name string) bool {
	return name != "" && !strings.ContainsFunc(name, func(r rune) bool { return !nameRune(r) })
}

// SafeName returns s with every character ValidName refuses replaced by
// repl, which must itself be valid.
func SafeName(s string, repl rune) string {
	return strings.Map(func(r rune) rune {
		if nameRune(r) {
			return r
		}
		return repl
	}, s)
}

func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}
