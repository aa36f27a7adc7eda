// Package natsclient holds what ticketkit's two NATS transports share: the
// connection Config (servers, authentication, TLS, pings, backoff), read
// from the cluster's environment with FromEnv; the connection State; and
// the errors both return, so errors.Is(err, ErrDisconnected) holds
// whichever transport a service runs on.
//
// The transports are its subpackages, siblings that don't import each
// other: streaming is NATS Streaming (on stan.go), jsclient is JetStream
// (on nats.go's jetstream). A JetStream binary links no stan.go.
//
//	cfg, err := natsclient.FromEnv(os.Getenv)
//	nc, err := streaming.Connect(ctx, cfg)                       // NATS Streaming
//	js, err := jsclient.Connect(ctx, jsclient.Config{Config: cfg}) // JetStream
package natsclient
