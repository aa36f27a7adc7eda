// Package payments is the payments service's domain: a payment per order,
// charged through a Charger (a port; stripecharger is Stripe's adapter,
// Fake an in-memory one), over a copy of the orders kept from the orders
// service's events (wire.OrderCopies).
//
// # Charging once
//
// The Node payments service charges first and saves after, so a retried
// POST, or a crash between the two, charges twice. Pay charges once, for
// any number of attempts, concurrent or not, on any number of instances:
//
//   - A payment's id is derived from its order's (PaymentID), so a second
//     payment for an order is an insert of the same id, which the store
//     refuses (ECONFLICT) in the same atomic write that would have stored
//     it: no unique index beyond _id, so it holds on FerretDB too.
//   - The charge carries an idempotency key derived from the order's
//     canonical id (ChargeKey), so every attempt for an order, in any
//     letter case, is one charge at the provider: Stripe answers a
//     repeated key with the charge it made the first time. A charge
//     whose payment was never stored (a crash, a store that didn't
//     answer) is found again by the next attempt, never repeated.
//   - The payment is stored with its payment:created event in one write
//     (the outbox), so it is never stored without its event.
//
// A declined card or a refused request is not a charge, and Stripe may
// remember the refusal under its key: Pay then moves the order's key on
// (the copy's claim, see Orders.NextAttempt), so the next attempt, with
// another card, may charge. A key whose answer is a refusal never charged,
// so moving on can't charge twice; an error that leaves the outcome
// unknown keeps the key.
//
// Limits: a provider forgets a key after 24 hours, so an attempt that
// charged and was never stored, retried only after that, would charge
// again. Payments the Node service wrote (with random ids) are not seen.
package payments
