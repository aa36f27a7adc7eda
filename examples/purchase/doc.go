// Package purchase holds the test of the cluster's whole purchase on the
// real servers: the tickets, orders, payments and expiration services on
// ticketkit, together on one broker, each with its database. It has no
// code of its own.
package purchase
