// The Node payments service's own tests (routes/__test__/new.test.ts and
// events/listeners/__test__), run black-box against a running payments
// service: over HTTP with cookie-session JWTs as the auth service issues
// them, and as a Node peer on NATS Streaming with node-nats-streaming.
// Where the Node tests save an Order with Mongoose, these publish the
// order:created (and order:cancelled) the orders service would; where
// they read Mongoose or list Stripe's charges, these observe the same
// through the API, the payment:created event and the charge requests
// stripe-recorder.mjs saw (stripe-mock keeps no charges to list).
//
// Environment: PAYMENTS_URL, STRIPE_RECORDER, NATS_URL, NATS_CLUSTER_ID,
// JWT_KEY.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import nats from 'node-nats-streaming';

const base = process.env.PAYMENTS_URL;
const key = process.env.JWT_KEY;
let stan;
const received = { 'payment:created': [] };

const objectId = () =>
  Math.floor(Date.now() / 1000).toString(16).padStart(8, '0') + crypto.randomBytes(8).toString('hex');

// signin, as the Node tests' global helper builds the cookie.
const signin = (id = objectId()) => {
  const token = jwt.sign({ id, email: 'test@test.com' }, key);
  const session = Buffer.from(JSON.stringify({ jwt: token })).toString('base64');
  return [`express:sess=${session}`];
};

const pay = async (cookie, body) => {
  const headers = { 'content-type': 'application/json' };
  if (cookie) headers.cookie = cookie.join('; ');
  const res = await fetch(base + '/api/payments', { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};

const publishRaw = (subject, data) =>
  new Promise((resolve, reject) => stan.publish(subject, data, (err) => (err ? reject(err) : resolve())));
const publish = (subject, data) => publishRaw(subject, JSON.stringify(data));

const eventually = async (what, cond, ms = 15000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

// The charge requests the service made for an order, as Stripe (here
// stripe-mock, through the recorder) received them.
const chargesFor = async (orderId) => {
  const all = await (await fetch(process.env.STRIPE_RECORDER + '/__charges')).json();
  return all.filter((c) => c.form['metadata[order_id]'] === orderId);
};

// buildOrder: the order:created the orders service would publish, awaited
// until the service has copied it: a payment by another user is then
// refused as not theirs (401) rather than not found (404), which charges
// nothing.
const buildOrder = async ({ userId = objectId(), price = 20, status = 'created' } = {}) => {
  const order = {
    id: objectId(), version: 0, status, userId,
    expiresAt: new Date(Date.now() + 15 * 60000).toISOString(),
    ticket: { id: objectId(), price },
  };
  await publish('order:created', order);
  const probe = signin();
  await eventually('the order is replicated', async () => {
    const r = await pay(probe, { token: 'tok_visa', orderId: order.id });
    if (r.status === 401) return true;
    assert.equal(r.status, 404);
    return false;
  });
  return order;
};

before(async () => {
  stan = nats.connect(process.env.NATS_CLUSTER_ID, 'nodecheck-' + crypto.randomBytes(4).toString('hex'), { url: process.env.NATS_URL });
  await new Promise((resolve, reject) => { stan.on('connect', resolve); stan.on('error', reject); });
  for (const subject of Object.keys(received)) {
    const sub = stan.subscribe(subject, stan.subscriptionOptions());
    sub.on('message', (msg) => received[subject].push(JSON.parse(msg.getData())));
  }
});

after(() => new Promise((resolve) => { stan.on('close', resolve); stan.close(); }));

// new.test.ts
test('returns a 404 when purchasing an order that does not exist', async () => {
  const r = await pay(signin(), { token: 'asldkfj', orderId: objectId() });
  assert.equal(r.status, 404);
});

test('returns a 401 when purchasing an order that doesnt belong to the user', async () => {
  const order = await buildOrder();
  const r = await pay(signin(), { token: 'asldkfj', orderId: order.id });
  assert.equal(r.status, 401);
  assert.deepEqual(r.body, { errors: [{ message: 'Not authorized' }] });
});

test('returns a 400 when purchasing a cancelled order', async () => {
  const userId = objectId();
  const order = await buildOrder({ userId, status: 'cancelled' });
  const r = await pay(signin(userId), { orderId: order.id, token: 'asdlkfj' });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { errors: [{ message: 'Cannot pay for an cancelled order' }] });
  assert.deepEqual(await chargesFor(order.id), []);
});

test('returns a 201 with valid inputs', async () => {
  const userId = objectId();
  const price = 1 + Math.floor(Math.random() * 100000);
  const order = await buildOrder({ userId, price });
  const r = await pay(signin(userId), { token: 'tok_visa', orderId: order.id });
  assert.equal(r.status, 201);
  // stripe.charges.list: the charge as Stripe received it.
  const [charge, ...more] = await chargesFor(order.id);
  assert.deepEqual(more, []);
  assert.equal(charge.status, 200);
  assert.equal(Number(charge.form.amount), price * 100);
  assert.equal(charge.form.currency, 'usd');
  assert.equal(charge.form.source, 'tok_visa');
  assert.ok(charge.id.startsWith('ch_'));
  // Payment.findOne({ orderId, stripeId }): the payment, with that
  // charge, as its event tells it.
  const e = await eventually('payment:created', () => received['payment:created'].find((e) => e.orderId === order.id));
  assert.deepEqual(e, { id: r.body.id, orderId: order.id, stripeId: charge.id });
});

// Beyond the Node tests: what the Node service gets wrong.
test('a repeated payment answers the same payment and charges once', async () => {
  const userId = objectId();
  const order = await buildOrder({ userId });
  const rs = await Promise.all(Array.from({ length: 8 }, () => pay(signin(userId), { token: 'tok_visa', orderId: order.id })));
  for (const r of rs) assert.deepEqual(r, { status: 201, body: rs[0].body });
  const again = await pay(signin(userId), { token: 'tok_visa', orderId: order.id.toUpperCase() });
  assert.deepEqual(again, rs[0]);
  // One charge, or several requests with one idempotency key (Stripe
  // answers them with one charge; stripe-mock just answers).
  const keys = new Set((await chargesFor(order.id)).map((c) => c.idempotencyKey));
  assert.equal(keys.size, 1);
  await eventually('payment:created', () => received['payment:created'].find((e) => e.orderId === order.id));
  assert.equal(received['payment:created'].filter((e) => e.orderId === order.id).length, 1);
});

test('a declined card is a 400, and another card then pays', async () => {
  const userId = objectId();
  const order = await buildOrder({ userId });
  const declined = await pay(signin(userId), { token: 'tok_chargeDeclined', orderId: order.id });
  assert.equal(declined.status, 400);
  assert.equal((await pay(signin(userId), { token: 'tok_visa', orderId: order.id })).status, 201);
  const charges = await chargesFor(order.id);
  assert.deepEqual(charges.map((c) => c.status), [402, 200]);
  assert.notEqual(charges[0].idempotencyKey, charges[1].idempotencyKey);
});

test('bad bodies are a 400 and charge nothing', async () => {
  const userId = objectId();
  const order = await buildOrder({ userId });
  for (const body of [{}, { token: '', orderId: order.id }, { token: 'tok_visa' }, { orderId: order.id },
    { token: { $ne: '' }, orderId: order.id }, { token: 'tok_visa', orderId: { $gt: '' } }, [], 'nope']) {
    const r = await pay(signin(userId), body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.ok(r.body.errors.length > 0);
  }
  assert.equal((await pay(undefined, { token: 'tok_visa', orderId: order.id })).status, 401);
  assert.deepEqual(await chargesFor(order.id), []);
});

// order-created-listener.test.ts: "replicates the order info" (the price
// the charge is made for); "acks the message" is not observable from
// outside without the broker's monitoring endpoint: the Go tests
// (paymentsvc) count the acks.
test('replicates the order info', async () => {
  const userId = objectId();
  const order = await buildOrder({ userId, price: 10 });
  assert.equal((await pay(signin(userId), { token: 'tok_visa', orderId: order.id })).status, 201);
  const [charge] = await chargesFor(order.id);
  assert.equal(Number(charge.form.amount), 1000);
});

// order-cancelled-listener.test.ts: "updates the status of the order".
// Until the cancellation is applied, a payment with a declined card is
// refused as declined, charging nothing; then as cancelled.
test('updates the status of the order', async () => {
  const userId = objectId();
  const order = await buildOrder({ userId, price: 10 });
  await publish('order:cancelled', { id: order.id, version: 1, ticket: { id: order.ticket.id } });
  await eventually('the order is cancelled', async () => {
    const r = await pay(signin(userId), { token: 'tok_chargeDeclined', orderId: order.id });
    assert.equal(r.status, 400);
    return r.body.errors[0].message === 'Cannot pay for an cancelled order';
  });
  const r = await pay(signin(userId), { token: 'tok_visa', orderId: order.id });
  assert.deepEqual(r, { status: 400, body: { errors: [{ message: 'Cannot pay for an cancelled order' }] } });
  assert.ok((await chargesFor(order.id)).every((c) => c.status === 402));
});

// Poison on both subjects: dead-lettered (the Go tests check that), and
// the service keeps paying.
test('poison events leave the service paying', async () => {
  const userId = objectId();
  const victim = await buildOrder({ userId });
  for (const subject of ['order:created', 'order:cancelled']) {
    for (const p of ['not json', '[]', JSON.stringify({ id: { $gt: '' }, version: 1, ticket: { id: objectId() } }),
      JSON.stringify({ id: victim.id, version: '1', status: 'cancelled', ticket: { id: objectId(), price: '20' } }),
      Buffer.from([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])]) {
      await publishRaw(subject, p);
    }
  }
  const order = await buildOrder({ userId });
  assert.equal((await pay(signin(userId), { token: 'tok_visa', orderId: order.id })).status, 201);
  assert.equal((await pay(signin(userId), { token: 'tok_visa', orderId: victim.id })).status, 201);
});
