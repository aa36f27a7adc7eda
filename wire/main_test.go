package wire_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The catch-up tests start brokers' clients and listeners: none may
// outlive its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
