package wire_test

// Encoding and decoding of every payload, against encoding/json on the
// same value and bytes in the same run (see internal/benchcmp):
// "lib-ratio" is events.Encode's (events.Decode's) throughput over
// json.Marshal's (json.Unmarshal's). Decode does more than Unmarshal: it
// checks for an object and validates the payload, so that a bad event is
// dead-lettered instead of handled.

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/benchcmp"
	"github.com/ticketkit/ticketkit/wire"
)

// benchDecode decodes data as the type of e, with events.Decode or, raw,
// json.Unmarshal.
func benchDecode(e events.Event, data []byte, raw bool) error {
	switch e.(type) {
	case wire.TicketCreated:
		return decode[wire.TicketCreated](data, raw)
	case wire.TicketUpdated:
		return decode[wire.TicketUpdated](data, raw)
	case wire.OrderCreated:
		return decode[wire.OrderCreated](data, raw)
	case wire.OrderCancelled:
		return decode[wire.OrderCancelled](data, raw)
	case wire.ExpirationComplete:
		return decode[wire.ExpirationComplete](data, raw)
	case wire.PaymentCreated:
		return decode[wire.PaymentCreated](data, raw)
	}
	panic("no case for " + string(e.Subject()))
}

func decode[E events.Event](data []byte, raw bool) error {
	if raw {
		var e E
		return json.Unmarshal(data, &e)
	}
	_, err := events.Decode[E](data)
	return err
}

func BenchmarkEncode(b *testing.B) {
	for _, c := range wireCases {
		b.Run(strings.TrimSuffix(c.file, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			benchcmp.Compare(b, benchcmp.Options{Rounds: 10},
				benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
					for range n {
						if _, err := json.Marshal(c.event); err != nil {
							b.Fatal(err)
						}
					}
				}},
				benchcmp.Side{Name: "lib", Run: func(b *testing.B, n int) {
					for range n {
						if _, err := events.Encode(c.event); err != nil {
							b.Fatal(err)
						}
					}
				}},
			)
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range wireCases {
		b.Run(strings.TrimSuffix(c.file, ".json"), func(b *testing.B) {
			data, err := events.Encode(c.event)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			benchcmp.Compare(b, benchcmp.Options{Rounds: 10},
				benchcmp.Side{Name: "raw", Run: func(b *testing.B, n int) {
					for range n {
						if err := benchDecode(c.event, data, true); err != nil {
							b.Fatal(err)
						}
					}
				}},
				benchcmp.Side{Name: "lib", Run: func(b *testing.B, n int) {
					for range n {
						if err := benchDecode(c.event, data, false); err != nil {
							b.Fatal(err)
						}
					}
				}},
			)
		})
	}
}
