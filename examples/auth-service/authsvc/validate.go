package authsvc

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The messages of the Node routes' express-validator chains.
const (
	msgEmail          = "Email must be valid"
	msgPasswordLength = "Password must be between 4 and 20 characters"
	msgPasswordEmpty  = "You must supply a password"
)

// stringField returns the named field when it is a JSON string. Anything
// else (absent, null, a number, an array, an object such as {"$gt": ""})
// is not one. express-validator would turn a number or an object into
// its JavaScript string and the Node service would use that ("[object
// Object]" passes as a password, and an object email reaches Mongoose's
// findOne as a query operator); here it fails the field's validation.
func stringField(fields map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := fields[name]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsTrim is JavaScript's String.prototype.trim, which express-validator's
// trim() applies: Unicode white space and line terminators, and U+FEFF,
// but not U+0085, which unicode.IsSpace counts.
func jsTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return r == '\uFEFF' || (r != '\u0085' && unicode.IsSpace(r))
	})
}

// jsLength is the length validator.js's isLength measures: characters,
// a surrogate pair counting as one, so code points.
func jsLength(s string) int { return utf8.RuneCountInString(s) }

// validEmail approximates validator.js's isEmail with its defaults, which
// the Node service's body('email').isEmail() uses: no display name, a
// local part of at most 64 bytes of atext and dots (or quoted), a domain
// of at most 254 bytes, of labels of letters, digits and hyphens (letters
// beyond ASCII allowed, as validator.js allows them) with a top-level
// label of letters only, at least two.
func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	return validLocal(local) && validDomain(domain)
}

func validLocal(l string) bool {
	if len(l) > 64 {
		return false
	}
	if len(l) >= 2 && l[0] == '"' && l[len(l)-1] == '"' {
		for _, r := range l[1 : len(l)-1] {
			if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
				return false
			}
		}
		return true
	}
	if strings.HasPrefix(l, ".") || strings.HasSuffix(l, ".") || strings.Contains(l, "..") {
		return false
	}
	for _, r := range l {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", r):
		case r >= 0xA0 && unicode.IsPrint(r) && !unicode.IsSpace(r):
		default:
			return false
		}
	}
	return true
}

func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0xA1 && unicode.IsLetter(r)) {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	if utf8.RuneCountInString(tld) < 2 {
		return false
	}
	for _, r := range tld {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}
