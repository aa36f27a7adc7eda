package memtransport_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/events/eventstest"
	"github.com/ticketkit/ticketkit/events/memtransport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	broker := memtransport.NewBroker()
	eventstest.Run(t, func(*testing.T) events.Transport { return broker.Connect() })
}
