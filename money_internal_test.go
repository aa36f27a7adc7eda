package ticketkit

import (
	"strconv"
	"testing"
)

func TestMaxMoneyDigitsMatchesMaxMoney(t *testing.T) {
	if n := len(strconv.FormatInt(int64(MaxMoney), 10)); n != maxMoneyDigits {
		t.Fatalf("MaxMoney has %d digits in cents, maxMoneyDigits says %d", n, maxMoneyDigits)
	}
}
