// The Node expiration service's behaviour, checked black-box against a
// running expiration service as a Node peer on NATS Streaming. The course
// repository has no test of its own for it (its one listener only adds a
// Bull job with delay = expiresAt - now, and the job publishes
// expiration:complete {orderId}), so these check exactly that from
// outside: what an order:created as the Node orders service publishes it
// becomes on the expiration:complete channel, and when.
//
// Environment: NATS_URL, NATS_CLUSTER_ID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import nats from 'node-nats-streaming';

let stan;
const completed = []; // { orderId, at }

const objectId = () =>
  Math.floor(Date.now() / 1000).toString(16).padStart(8, '0') + crypto.randomBytes(8).toString('hex');

const publishRaw = (subject, data) =>
  new Promise((resolve, reject) => stan.publish(subject, data, (err) => (err ? reject(err) : resolve())));

// orderCreated is the order:created the Node orders service publishes.
const orderCreated = (expiresAt) => ({
  id: objectId(),
  version: 0,
  status: 'created',
  userId: objectId(),
  expiresAt: expiresAt.toISOString(),
  ticket: { id: objectId(), price: 20 },
});

const eventually = async (what, cond, ms = 20000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

const completionsOf = (orderId) => completed.filter((c) => c.orderId === orderId);

before(async () => {
  stan = nats.connect(process.env.NATS_CLUSTER_ID, 'nodecheck-' + crypto.randomBytes(4).toString('hex'), { url: process.env.NATS_URL });
  await new Promise((resolve, reject) => { stan.on('connect', resolve); stan.on('error', reject); });
  const sub = stan.subscribe('expiration:complete', stan.subscriptionOptions());
  sub.on('message', (msg) => completed.push({ ...JSON.parse(msg.getData()), at: Date.now() }));
});

after(() => new Promise((resolve) => { stan.on('close', resolve); stan.close(); }));

test('publishes expiration:complete with the order id at the order\'s expiresAt, not before', async () => {
  const expiresAt = new Date(Date.now() + 2000);
  const data = orderCreated(expiresAt);
  await publishRaw('order:created', JSON.stringify(data));
  const [c] = await eventually('expiration:complete', () => completionsOf(data.id).length && completionsOf(data.id));
  assert.deepEqual(Object.keys(c).sort(), ['at', 'orderId']);
  assert.ok(c.at >= expiresAt.getTime(), `published ${expiresAt.getTime() - c.at} ms early`);
});

test('an order already expired expires at once', async () => {
  const data = orderCreated(new Date(Date.now() - 60000));
  const sent = Date.now();
  await publishRaw('order:created', JSON.stringify(data));
  const [c] = await eventually('expiration:complete', () => completionsOf(data.id).length && completionsOf(data.id));
  assert.ok(c.at - sent < 10000, 'took more than 10 s');
});

test('an order:created delivered twice expires once', async () => {
  const data = orderCreated(new Date(Date.now() + 1000));
  await publishRaw('order:created', JSON.stringify(data));
  await publishRaw('order:created', JSON.stringify(data));
  await eventually('expiration:complete', () => completionsOf(data.id).length);
  // A second one would come at the same time: give it a while to show.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(completionsOf(data.id).length, 1);
});

test('poison order:created events leave the service expiring the next order', async () => {
  for (const raw of ['{', '[]', 'null', JSON.stringify({ id: { $gt: '' } }), JSON.stringify({ ...orderCreated(new Date()), expiresAt: 'soon' }),
    JSON.stringify({ ...orderCreated(new Date()), id: 'not-an-id' }), 'x'.repeat(900 * 1024)]) {
    await publishRaw('order:created', raw);
  }
  const data = orderCreated(new Date(Date.now() + 500));
  await publishRaw('order:created', JSON.stringify(data));
  await eventually('expiration:complete after the poison', () => completionsOf(data.id).length);
});
