package natsclient_test

import (
	"fmt"
	"testing"

	"github.com/ticketkit/ticketkit/events"
	"github.com/ticketkit/ticketkit/internal/testenv"
	"github.com/ticketkit/ticketkit/natsclient"
)

// The outbox relay's hot path: a batch pipelined against the shared server.
func BenchmarkPublishBatch(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			url, cluster := testenv.NATS(b)
			c, err := natsclient.Connect(b.Context(), natsclient.Config{
				ClusterID: cluster, ClientID: testenv.UniqueName(b), URLs: []string{url},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(b.Context())
			subject := testenv.UniqueName(b)
			msgs := make([]events.Outgoing, size)
			for i := range msgs {
				msgs[i] = events.Outgoing{Subject: subject, Data: []byte(`{"id":"64b7f0c2a1b2c3d4e5f60718","title":"concert","price":20,"userId":"u1","version":0}`)}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, err := range c.PublishBatch(b.Context(), msgs) {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
