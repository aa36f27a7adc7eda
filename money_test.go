package ticketkit_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit"
)

func TestMoneyJSONIsAPlainNumberAsNodeWritesIt(t *testing.T) {
	for cents, want := range map[int64]string{
		2000:                      "20",
		1250:                      "12.5",
		1234:                      "12.34",
		1:                         "0.01",
		10:                        "0.1",
		100:                       "1",
		int64(ticketkit.MaxMoney): "100000000",
	} {
		got, err := json.Marshal(ticketkit.Cents(cents))
		if err != nil || string(got) != want {
			t.Errorf("Marshal(%d cents) = %s, %v; want %s", cents, got, err, want)
		}
	}
}

func TestMoneyDecodesExactly(t *testing.T) {
	for in, want := range map[string]int64{
		"20":          2000,
		"12.5":        1250,
		"12.34":       1234,
		"12.50":       1250,
		"12.500000":   1250,
		"0.01":        1,
		"0.1":         10,
		"1e2":         10000,
		"1.5E1":       1500,
		"1234e-2":     1234,
		"100000000":   int64(ticketkit.MaxMoney),
		"0.29":        29, // 0.29*100 is 28.999999999999996 in floats
		"1.15":        115,
		"9007199.25":  900719925,
		"1e+1":        1000,
		"0.000001e6":  100,
		"120000e-4":   1200,
		"0.0000001e5": 1,
	} {
		var m ticketkit.Money
		if err := json.Unmarshal([]byte(in), &m); err != nil || int64(m) != want {
			t.Errorf("Unmarshal(%s) = %d cents, %v; want %d", in, m, err, want)
		}
	}
}

func TestMoneyRejectsWhatIsNotAPrice(t *testing.T) {
	for in, wantMsg := range map[string]string{
		`0`:                       "Price must be greater than 0",
		`0.00`:                    "Price must be greater than 0",
		`-5`:                      "Price must be greater than 0",
		`-0`:                      "Price must be greater than 0",
		`12.345`:                  "Price must have at most two decimal places",
		`0.001`:                   "Price must have at most two decimal places",
		`1e-3`:                    "Price must have at most two decimal places",
		`1e-999999999`:            "Price must have at most two decimal places",
		`"12.5"`:                  "Price must be a number",
		`"NaN"`:                   "Price must be a number",
		`"Infinity"`:              "Price must be a number",
		`null`:                    "Price must be a number",
		`true`:                    "Price must be a number",
		`{"$gt":0}`:               "Price must be a number",
		`[1]`:                     "Price must be a number",
		`100000000.01`:            "Price must be at most 100000000.00",
		`1e9`:                     "Price must be at most 100000000.00",
		`1e999999999`:             "Price must be at most 100000000.00",
		`99999999999999999999999`: "Price must be at most 100000000.00",
	} {
		var m ticketkit.Money
		err := json.Unmarshal([]byte(in), &m)
		var te *ticketkit.Error
		if !errors.As(err, &te) {
			t.Errorf("Unmarshal(%s) error = %v, want *ticketkit.Error", in, err)
			continue
		}
		if te.Code != ticketkit.EINVALID || te.Message != wantMsg || len(te.Fields) != 1 || te.Fields[0].Field != "price" {
			t.Errorf("Unmarshal(%s) error = %+v, want EINVALID on price: %q", in, te, wantMsg)
		}
		if m != 0 {
			t.Errorf("Unmarshal(%s) wrote %d despite the error", in, m)
		}
	}
}

func TestMoneyRejectsNonJSONNumbers(t *testing.T) {
	// NaN and Infinity are not JSON; the decoder refuses them before Money sees them.
	for _, in := range []string{`NaN`, `Infinity`, `-Infinity`, `01`, `1.`, `.5`, `+1`, `1e`, `0x10`} {
		var m ticketkit.Money
		if err := json.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("Unmarshal(%s) = %d, want an error", in, m)
		}
		if _, err := ticketkit.ParseMoney(in); !errors.Is(err, ticketkit.ErrInvalid) {
			t.Errorf("ParseMoney(%s) error = %v, want invalid", in, err)
		}
	}
}

func TestMoneyString(t *testing.T) {
	for cents, want := range map[int64]string{1250: "12.50", 5: "0.05", 2000: "20.00", -150: "-1.50"} {
		if got := ticketkit.Cents(cents).String(); got != want {
			t.Errorf("String(%d) = %q, want %q", cents, got, want)
		}
	}
}

func FuzzMoneyRoundTrip(f *testing.F) {
	for _, s := range []string{"20", "12.5", "0.01", "1e2", "-1", "12.345", "1e999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ticketkit.ParseMoney(s)
		if err != nil {
			if !errors.Is(err, ticketkit.ErrInvalid) {
				t.Fatalf("ParseMoney(%q) error %v is not EINVALID", s, err)
			}
			return
		}
		if m <= 0 || m > ticketkit.MaxMoney {
			t.Fatalf("ParseMoney(%q) = %d outside (0, MaxMoney]", s, m)
		}
		b, _ := json.Marshal(m)
		var back ticketkit.Money
		if err := json.Unmarshal(b, &back); err != nil || back != m {
			t.Fatalf("round trip of %q: %s -> %d, %v", s, b, back, err)
		}
		if strings.ContainsAny(string(b), "eE") {
			t.Fatalf("Marshal(%d) = %s uses an exponent", m, b)
		}
	})
}
