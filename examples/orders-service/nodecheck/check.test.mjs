// The Node orders service's own tests (routes/__test__ and
// events/listeners/__test__), run black-box against a running orders
// service: over HTTP with cookie-session JWTs as the auth service issues
// them, and as a Node peer on NATS Streaming with node-nats-streaming.
// Where the Node tests reach into Mongoose or a mocked natsWrapper, these
// observe the same through the API and the broker.
//
// Environment: ORDERS_URL, NATS_URL, NATS_CLUSTER_ID, JWT_KEY.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import nats from 'node-nats-streaming';

const base = process.env.ORDERS_URL;
const key = process.env.JWT_KEY;
let stan;
const received = { 'order:created': [], 'order:cancelled': [] };

const objectId = () =>
  Math.floor(Date.now() / 1000).toString(16).padStart(8, '0') + crypto.randomBytes(8).toString('hex');

// signin, as the Node tests' global helper builds the cookie.
const signin = (id = objectId()) => {
  const token = jwt.sign({ id, email: 'test@test.com' }, key);
  const session = Buffer.from(JSON.stringify({ jwt: token })).toString('base64');
  return [`express:sess=${session}`];
};

const request = async (method, path, { cookie, body } = {}) => {
  const headers = {};
  if (cookie) headers.cookie = cookie.join('; ');
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
};

const publish = (subject, data) =>
  new Promise((resolve, reject) => stan.publish(subject, JSON.stringify(data), (err) => (err ? reject(err) : resolve())));

const eventually = async (what, cond, ms = 15000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

// buildTicket: the ticket:created the tickets service would publish,
// awaited until the orders service can order it.
const buildTicket = async (title = 'concert', price = 20) => {
  const ticket = { id: objectId(), version: 0, title, price, userId: objectId() };
  await publish('ticket:created', ticket);
  const probe = signin();
  await eventually('the ticket is replicated', async () => {
    // A probe order from a throwaway user, cancelled at once, tells the
    // ticket has arrived without reading the service's database.
    const r = await request('POST', '/api/orders', { cookie: probe, body: { ticketId: ticket.id } });
    if (r.status === 201) {
      assert.equal((await request('DELETE', `/api/orders/${r.body.id}`, { cookie: probe })).status, 204);
      return true;
    }
    assert.equal(r.status, 404);
    return false;
  });
  return ticket;
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
test('returns an error if the ticket does not exist', async () => {
  const r = await request('POST', '/api/orders', { cookie: signin(), body: { ticketId: objectId() } });
  assert.equal(r.status, 404);
});

test('returns an error if the ticket is already reserved', async () => {
  const ticket = await buildTicket();
  assert.equal((await request('POST', '/api/orders', { cookie: signin(), body: { ticketId: ticket.id } })).status, 201);
  const r = await request('POST', '/api/orders', { cookie: signin(), body: { ticketId: ticket.id } });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { errors: [{ message: 'Ticket is already reserved' }] });
});

test('reserves a ticket', async () => {
  const ticket = await buildTicket();
  const r = await request('POST', '/api/orders', { cookie: signin(), body: { ticketId: ticket.id } });
  assert.equal(r.status, 201);
  assert.equal(r.body.status, 'created');
  assert.equal(r.body.ticket.id, ticket.id);
});

test('emits an order created event', async () => {
  const ticket = await buildTicket();
  const user = objectId();
  const r = await request('POST', '/api/orders', { cookie: signin(user), body: { ticketId: ticket.id } });
  const e = await eventually('order:created', () => received['order:created'].find((e) => e.id === r.body.id));
  assert.deepEqual(Object.keys(e), ['id', 'version', 'status', 'userId', 'expiresAt', 'ticket']);
  assert.equal(e.userId, user);
  assert.deepEqual(e.ticket, { id: ticket.id, price: ticket.price });
  assert.equal(new Date(e.expiresAt).toISOString(), e.expiresAt);
});

test('requires sign-in and a ticket id', async () => {
  assert.equal((await request('POST', '/api/orders', { body: { ticketId: objectId() } })).status, 401);
  const r = await request('POST', '/api/orders', { cookie: signin(), body: { ticketId: '' } });
  assert.equal(r.status, 400);
  assert.deepEqual(r.body, { errors: [{ message: 'TicketId must be provided', field: 'ticketId' }] });
});

// index.test.ts
test('fetches orders for an particular user', async () => {
  const [one, two, three] = [await buildTicket('one'), await buildTicket('two'), await buildTicket('three')];
  const userOne = signin();
  const userTwo = signin();
  await request('POST', '/api/orders', { cookie: userOne, body: { ticketId: one.id } });
  const { body: orderOne } = await request('POST', '/api/orders', { cookie: userTwo, body: { ticketId: two.id } });
  const { body: orderTwo } = await request('POST', '/api/orders', { cookie: userTwo, body: { ticketId: three.id } });
  const r = await request('GET', '/api/orders', { cookie: userTwo });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 2);
  assert.equal(r.body[0].id, orderOne.id);
  assert.equal(r.body[1].id, orderTwo.id);
  assert.equal(r.body[0].ticket.id, two.id);
  assert.equal(r.body[1].ticket.id, three.id);
  assert.equal(r.body[1].ticket.title, 'three');
});

// show.test.ts
test('fetches the order', async () => {
  const ticket = await buildTicket();
  const user = signin();
  const { body: order } = await request('POST', '/api/orders', { cookie: user, body: { ticketId: ticket.id } });
  const r = await request('GET', `/api/orders/${order.id}`, { cookie: user });
  assert.equal(r.status, 200);
  assert.equal(r.body.id, order.id);
  assert.deepEqual(Object.keys(r.body), ['userId', 'status', 'expiresAt', 'ticket', 'version', 'id']);
  assert.deepEqual(Object.keys(r.body.ticket), ['title', 'price', 'version', 'id']);
});

test('returns an error if one user tries to fetch another users order', async () => {
  const ticket = await buildTicket();
  const { body: order } = await request('POST', '/api/orders', { cookie: signin(), body: { ticketId: ticket.id } });
  const r = await request('GET', `/api/orders/${order.id}`, { cookie: signin() });
  assert.equal(r.status, 401);
  assert.deepEqual(r.body, { errors: [{ message: 'Not authorized' }] });
});

// delete.test.ts
test('marks an order as cancelled', async () => {
  const ticket = await buildTicket();
  const user = signin();
  const { body: order } = await request('POST', '/api/orders', { cookie: user, body: { ticketId: ticket.id } });
  assert.equal((await request('DELETE', `/api/orders/${order.id}`, { cookie: user })).status, 204);
  const r = await request('GET', `/api/orders/${order.id}`, { cookie: user });
  assert.equal(r.body.status, 'cancelled');
});

test('emits a order cancelled event', async () => {
  const ticket = await buildTicket();
  const user = signin();
  const { body: order } = await request('POST', '/api/orders', { cookie: user, body: { ticketId: ticket.id } });
  await request('DELETE', `/api/orders/${order.id}`, { cookie: user });
  const e = await eventually('order:cancelled', () => received['order:cancelled'].find((e) => e.id === order.id));
  assert.deepEqual(e, { id: order.id, version: 1, ticket: { id: ticket.id } });
});

// ticket-created-listener.test.ts and ticket-updated-listener.test.ts
test('creates and saves a ticket', async () => {
  const ticket = await buildTicket('created', 10);
  const r = await request('POST', '/api/orders', { cookie: signin(), body: { ticketId: ticket.id } });
  assert.deepEqual(r.body.ticket, { title: 'created', price: 10, version: 0, id: ticket.id });
});

test('finds, updates, and saves a ticket; skips a version gap', async () => {
  const ticket = await buildTicket('before', 10);
  await publish('ticket:updated', { id: ticket.id, version: 10, title: 'skipped', price: 99, userId: ticket.userId });
  await publish('ticket:updated', { id: ticket.id, version: 1, title: 'after', price: 999, userId: ticket.userId });
  const user = signin();
  const order = await eventually('the update is applied', async () => {
    const r = await request('POST', '/api/orders', { cookie: user, body: { ticketId: ticket.id } });
    if (r.status === 201 && r.body.ticket.version === 1) return r.body;
    if (r.status === 201) await request('DELETE', `/api/orders/${r.body.id}`, { cookie: user });
    return undefined;
  });
  assert.deepEqual(order.ticket, { title: 'after', price: 999, version: 1, id: ticket.id });
});

// expiration-complete-listener.test.ts
test('updates the order status to cancelled and emits an OrderCancelled event', async () => {
  const ticket = await buildTicket();
  const user = signin();
  const { body: order } = await request('POST', '/api/orders', { cookie: user, body: { ticketId: ticket.id } });
  await publish('expiration:complete', { orderId: order.id });
  await eventually('cancelled', async () => (await request('GET', `/api/orders/${order.id}`, { cookie: user })).body.status === 'cancelled');
  const e = await eventually('order:cancelled', () => received['order:cancelled'].find((e) => e.id === order.id));
  assert.equal(e.ticket.id, ticket.id);
});

// payment-created-listener.test.ts (the Node service has the listener;
// its test is the course's)
test('marks a paid order complete, which a later expiration leaves alone', async () => {
  const ticket = await buildTicket();
  const user = signin();
  const { body: order } = await request('POST', '/api/orders', { cookie: user, body: { ticketId: ticket.id } });
  await publish('payment:created', { id: objectId(), orderId: order.id, stripeId: 'ch_nodecheck' });
  await eventually('complete', async () => (await request('GET', `/api/orders/${order.id}`, { cookie: user })).body.status === 'complete');
  await publish('expiration:complete', { orderId: order.id });
  // The expiration is handled in order on its channel: an expiration of
  // another order published after it tells when it has been.
  const marker = await buildTicket();
  const { body: other } = await request('POST', '/api/orders', { cookie: user, body: { ticketId: marker.id } });
  await publish('expiration:complete', { orderId: other.id });
  await eventually('the marker expired', async () => (await request('GET', `/api/orders/${other.id}`, { cookie: user })).body.status === 'cancelled');
  assert.equal((await request('GET', `/api/orders/${order.id}`, { cookie: user })).body.status, 'complete');
});
