package ticketkit

import (
	"strconv"
	"strings"
)

// Money is an exact amount in cents. The Node services keep prices as
// JavaScript numbers, so on the wire Money is a JSON number of currency
// units with at most two decimals: 2000 cents is 20, 1250 is 12.5 and 1234
// is 12.34. Keeping cents as an integer means no float ever rounds a price.
type Money int64

// MaxMoney is the largest price accepted: 100,000,000.00. It bounds input
// far below 2^53 cents, where JavaScript numbers stop being exact.
const MaxMoney Money = 100_000_000_00

// Cents returns m as a count of cents.
func Cents(c int64) Money { return Money(c) }

// String formats m with exactly two decimals, as in "12.50".
func (m Money) String() string {
	sign := ""
	c := int64(m)
	if c < 0 {
		sign, c = "-", -c
	}
	return sign + strconv.FormatInt(c/100, 10) + "." + twoDigits(c%100)
}

// MarshalJSON writes m as the shortest JSON number of currency units,
// which is what JSON.stringify writes for the same price in Node.
func (m Money) MarshalJSON() ([]byte, error) {
	s := m.String()
	s = strings.TrimSuffix(s, "0")
	s = strings.TrimSuffix(s, ".0")
	return []byte(s), nil
}

// UnmarshalJSON accepts a JSON number that is a valid price (see ParseMoney).
// Strings, null and other types are rejected rather than coerced, so a
// price can only ever come from a number.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return invalidPrice("Price must be a number")
	}
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMoney parses a decimal number of currency units, in JSON number
// syntax ("20", "12.5", "1.234e1"), into exact cents. It rejects anything
// that is not greater than zero, has more than two decimals, is not a
// number, or exceeds MaxMoney; the error is an EINVALID *Error for the
// field "price".
func ParseMoney(s string) (Money, error) {
	neg, intPart, frac, exp, ok := splitNumber(s)
	if !ok {
		return 0, invalidPrice("Price must be a number")
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" || neg {
		return 0, invalidPrice("Price must be greater than 0")
	}
	// value = digits × 10^(exp - len(frac)); cents shift that by two more.
	shift := exp - len(frac) + 2
	if shift < 0 {
		if -shift >= len(digits) || strings.Trim(digits[len(digits)+shift:], "0") != "" {
			return 0, invalidPrice("Price must have at most two decimal places")
		}
		digits = digits[:len(digits)+shift]
		shift = 0
	}
	if len(digits)+shift > maxMoneyDigits {
		return 0, tooLarge()
	}
	c, err := strconv.ParseInt(digits, 10, 64)
	for range shift {
		c *= 10
	}
	if err != nil || Money(c) > MaxMoney {
		return 0, tooLarge()
	}
	return Money(c), nil
}

// maxMoneyDigits is how many digits MaxMoney has in cents; a number with
// more is too large before it is parsed.
const maxMoneyDigits = 11

func tooLarge() error { return invalidPrice("Price must be at most " + MaxMoney.String()) }

// splitNumber splits s in JSON number grammar. The exponent is clamped to a
// range where it still means "too many decimals" or "too large", so a
// hostile "1e999999999" costs nothing.
func splitNumber(s string) (neg bool, intPart, frac string, exp int, ok bool) {
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	i := digitsPrefix(s)
	if i == 0 || (i > 1 && s[0] == '0') {
		return false, "", "", 0, false
	}
	intPart, s = s[:i], s[i:]
	if strings.HasPrefix(s, ".") {
		j := digitsPrefix(s[1:])
		if j == 0 {
			return false, "", "", 0, false
		}
		frac, s = s[1:1+j], s[1+j:]
	}
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		expNeg := false
		if s != "" && (s[0] == '+' || s[0] == '-') {
			expNeg, s = s[0] == '-', s[1:]
		}
		j := digitsPrefix(s)
		if j == 0 || j != len(s) {
			return false, "", "", 0, false
		}
		exp, s = 1000, strings.TrimLeft(s, "0")
		if len(s) < 4 {
			exp, _ = strconv.Atoi("0" + s)
		}
		s = ""
		if expNeg {
			exp = -exp
		}
	}
	return neg, intPart, frac, exp, s == ""
}

func digitsPrefix(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

func twoDigits(c int64) string {
	if c < 10 {
		return "0" + strconv.FormatInt(c, 10)
	}
	return strconv.FormatInt(c, 10)
}

func invalidPrice(msg string) *Error {
	return Invalid(FieldError{Field: "price", Message: msg})
}
